"""The directory store's incident-number ledger: an append-only JSON-lines file, `<root>/_numbers.jsonl`.

Each allocation appends one line (`{"chain": ..., "number": ..., "year": 2026, "next": 43}`) under the store's
`fcntl` lock; each process keeps what it has read and reads only the lines appended since (by any process on the
host), so opening an incident costs the same with 10 incidents behind it as with 10,000. The ledger before this
one, `_numbers.json`, was one JSON document rewritten whole for every incident (O(n) in CPU and in bytes fsynced:
1.7 ms of CPU at 1,000 entries, 3.4 ms at 4,000, docs/performance.md); it is carried over on first use.

A line cut short by a crash (no newline at its end) is not a number: it is ignored and cut off before the next
line is appended. A ledger replaced under the process (a restore) is read again from its start.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

LEDGER = "_numbers.jsonl"
OLD_LEDGER = "_numbers.json"  # the whole-document ledger before: carried over, then removed


class NumberLedger:
    """Chain id -> incident number. Call under the store's numbers lock: it reads, appends and carries over."""

    def __init__(self, root: Path) -> None:
        self.path = root / LEDGER
        self._old = root / OLD_LEDGER
        self._by_chain: dict[str, str] = {}
        self._next: dict[str, int] = {}
        self._read_to = 0  # bytes of complete lines read
        self._file: tuple[int, int] | None = None  # (device, inode) of the file read

    def allocate(self, chain_id: str, prefix: str, year: int) -> str:
        self._catch_up()
        known = self._by_chain.get(chain_id)
        if known is not None:
            return known
        seq = self._next.get(str(year), 1)
        number = f"{prefix}-{year}-{seq:04d}"
        self._append({"chain": chain_id, "number": number, "year": year, "next": seq + 1})
        return number

    def numbers(self) -> dict[str, str]:
        self._catch_up()
        return dict(self._by_chain)

    def _catch_up(self) -> None:
        """Read what was appended since this process last read; the whole file when it is not the one read."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if not self._old.exists():
                self._forget(None)
                return
            self._carry_over()
            st = os.stat(self.path)
        if self._file != (st.st_dev, st.st_ino) or st.st_size < self._read_to:
            self._forget((st.st_dev, st.st_ino))
        if st.st_size == self._read_to:
            return
        with self.path.open("rb") as fh:
            fh.seek(self._read_to)
            fresh = fh.read()
        complete = fresh[:fresh.rfind(b"\n") + 1]  # a torn last line waits (and is cut before the next append)
        for line in complete.splitlines():
            if line.strip():
                self._take(json.loads(line))
        self._read_to += len(complete)

    def _forget(self, file: tuple[int, int] | None) -> None:
        self._by_chain, self._next, self._read_to, self._file = {}, {}, 0, file

    def _take(self, entry: dict[str, Any]) -> None:
        if "chain" in entry:
            self._by_chain[str(entry["chain"])] = str(entry["number"])
        if "year" in entry:
            year = str(entry["year"])
            self._next[year] = max(self._next.get(year, 1), int(entry["next"]))

    def _append(self, entry: dict[str, Any]) -> None:
        line = (json.dumps(entry, sort_keys=True) + "\n").encode()
        with self.path.open("ab") as fh:
            if fh.tell() != self._read_to:
                fh.truncate(self._read_to)  # a crashed writer's torn line: never a number
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
            st = os.fstat(fh.fileno())
        self._file = (st.st_dev, st.st_ino)
        self._take(entry)
        self._read_to += len(line)

    def _carry_over(self) -> None:
        """The old whole-document ledger as lines: written to a temporary file and renamed (all or nothing), then
        the old file removed."""
        old = json.loads(self._old.read_text(encoding="utf-8"))
        lines = [{"chain": chain, "number": number} for chain, number in sorted(old.get("by_chain", {}).items())]
        lines += [{"year": int(year), "next": int(seq)} for year, seq in sorted(old.get("next", {}).items())]
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{LEDGER}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write("".join(json.dumps(e, sort_keys=True) + "\n" for e in lines).encode())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._old.unlink()
