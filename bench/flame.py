"""`python -m bench.flame FILE [N]`: the top of a py-spy profile (collapsed stacks, `--format raw`) as text.

Two tables: where the samples were on CPU themselves (self), and the frames they were under (inclusive, each frame
counted once per stack), each as a share of all samples; what docs/performance.md shows before and after.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


def frame_name(frame: str) -> str:
    """`func (path/to/module.py:12)` -> `func (module.py)`: line numbers split one function into many rows."""
    name, _, where = frame.partition(" (")
    return f"{name} ({Path(where.split(':')[0]).name})" if where else name


def summarise(path: Path, top: int = 15) -> str:
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [frame_name(f) for f in stack.split(";") if f and not f.startswith(("thread (", "process "))]
        if not frames:
            continue
        n = int(count)
        total += n
        own[frames[-1]] += n
        for name in set(frames):
            under[name] += n
    lines = [f"{total} samples"]
    for title, counts in (("self", own), ("inclusive", under)):
        lines.append(f"-- {title}")
        lines += [f"{100 * c / total:5.1f}%  {name}" for name, c in counts.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    print(summarise(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 15))


if __name__ == "__main__":
    main()
