"""Group commit per incident: concurrent alerts for one workflow id ride in one Temporal call.

Each workflow id has at most one call in flight. Requests that arrive meanwhile queue up and go together in the
next call, and every request is answered only when the call that carried it succeeded (or failed). That is what
makes a storm cheap and what bounds the incident's history:

- at most one call per `min_interval` per workflow id while alerts keep coming (the first alert of a quiet
  incident goes at once, so alert -> ticket latency pays nothing);
- at most `max_batch` detections and `max_batch_bytes` of them per call (Temporal's payload limits);
- repeats of one alert inside a batch travel once (the workflow counts each alert id once anyway), and a repeat of
  an alert the incident's running workflow already holds travels not at all (intake/recorded.py).

So a storm adds at most (1 signal + one workflow task + one search-attribute upsert) per interval to the
history, however many alerts arrive; 10,000 alerts in 5 s is ~100 signals, not 10,000.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from intake.recorded import AlertKey, Recorded, digest
from playbook.models import Detection


@dataclass(frozen=True)
class Sent:
    """A call's outcome, and the run that recorded a signal-with-start's alerts (Temporal answers it)."""

    outcome: str
    run_id: str | None = None


# (workflow id, detections, may it start the incident) -> outcome of the call ('recorded' | 'no_incident'), or Sent
Send = Callable[[str, list[Detection], bool], Awaitable[str | Sent]]
# workflow id -> the run id of its running workflow, None when none runs
Running = Callable[[str], Awaitable[str | None]]


@dataclass
class _Request:
    """One HTTP request's share of a key's queue; split into chunks when it alone exceeds a batch."""

    future: asyncio.Future[str]
    remaining: int
    outcomes: list[str] = field(default_factory=list)

    def done_one(self, outcome: str) -> None:
        self.outcomes.append(outcome)
        self.remaining -= 1
        if self.remaining == 0 and not self.future.done():
            # 'recorded' wins over 'no_incident' when parts of a request went to different calls.
            self.future.set_result("recorded" if "recorded" in self.outcomes else self.outcomes[0])

    def fail(self, err: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(err)


@dataclass
class _Chunk:
    detections: list[Detection]
    digests: list[bytes]  # of each detection's JSON
    size: int
    start: bool
    request: _Request


@dataclass
class _Key:
    queue: list[_Chunk] = field(default_factory=list)
    running: bool = False


@dataclass
class Stats:
    requests: int = 0
    detections_received: int = 0
    calls: int = 0
    detections_sent: int = 0
    largest_batch: int = 0
    repeats_skipped: int = 0  # alerts the running incident already held: answered without a call carrying them


class Coalescer:
    def __init__(self, send: Send, max_batch: int = 500, max_batch_bytes: int = 512 * 1024,
                 min_interval: float = 0.05, running: Running | None = None) -> None:
        """`running`: how to ask Temporal which run of an incident runs; without it, and for a `send` that answers
        no run id, every alert is sent (repeats within a batch once)."""
        self.send, self.max_batch, self.max_batch_bytes, self.min_interval = send, max_batch, max_batch_bytes, \
            min_interval
        self.running = running
        self.recorded = Recorded()
        self.keys: dict[str, _Key] = {}
        self.last_call: dict[str, float] = {}  # kept past a drain, so the interval holds across quiet gaps
        self.stats = Stats()
        self._tasks: set[asyncio.Task[None]] = set()

    def busy(self, key: str) -> bool:
        """A call for `key` is queued or in flight: detections submitted now join it (or the next) for free."""
        return key in self.keys

    async def submit(self, key: str, detections: list[Detection], start: bool = True,
                     sizes: list[int] | None = None) -> str:
        """Queue these detections for `key`; returns once a Temporal call carrying all of them succeeded.

        `start`: may the call open the incident (firing alerts) or only join a running one (resolves, acks).
        The outcome is 'recorded', or 'no_incident' when nothing may start and no incident runs.
        """
        return await self.enqueue(key, detections, start, sizes)

    def enqueue(self, key: str, detections: list[Detection], start: bool = True,
                sizes: list[int] | None = None) -> asyncio.Future[str]:
        """`submit` without waiting: queued at once (so `busy(key)` is true on return); the future is its outcome."""
        self.stats.detections_received += len(detections)
        if not detections:
            done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            done.set_result("recorded")
            return done
        texts = [d.model_dump_json() for d in detections]
        sizes = sizes or [len(t) for t in texts]
        chunks: list[tuple[list[Detection], list[bytes], int]] = []
        current: list[Detection] = []
        digests: list[bytes] = []
        current_size = 0
        for det, text, size in zip(detections, texts, sizes, strict=True):
            if current and (len(current) >= self.max_batch or current_size + size > self.max_batch_bytes):
                chunks.append((current, digests, current_size))
                current, digests, current_size = [], [], 0
            current.append(det)
            digests.append(digest(text))
            current_size += size
        chunks.append((current, digests, current_size))
        request = _Request(future=asyncio.get_running_loop().create_future(), remaining=len(chunks))
        state = self.keys.setdefault(key, _Key())
        state.queue.extend(_Chunk(d, g, s, start, request) for d, g, s in chunks)
        self.stats.requests += 1
        if not state.running:
            state.running = True
            task = asyncio.create_task(self._drain(key, state))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return request.future

    def _take(self, state: _Key) -> list[_Chunk]:
        batch: list[_Chunk] = []
        count = size = 0
        while state.queue:
            chunk = state.queue[0]
            if batch and (count + len(chunk.detections) > self.max_batch or size + chunk.size > self.max_batch_bytes):
                break
            batch.append(state.queue.pop(0))
            count += len(chunk.detections)
            size += chunk.size
        return batch

    async def _drain(self, key: str, state: _Key) -> None:
        try:
            while state.queue:
                wait = self.last_call.get(key, 0.0) + self.min_interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)  # storm: let more alerts join this call
                batch = self._take(state)
                unique: dict[AlertKey, tuple[Detection, bytes]] = {}
                for chunk in batch:
                    for det, sent in zip(chunk.detections, chunk.digests, strict=True):
                        unique.setdefault((det.identity(), det.firing), (det, sent))
                self._called(key)
                try:
                    outcome = await self._call(key, unique, any(c.start for c in batch))
                except BaseException as err:  # noqa: BLE001 - every waiting request must hear of it
                    for chunk in batch:
                        chunk.request.fail(err)
                    if isinstance(err, asyncio.CancelledError):
                        raise
                    continue
                for chunk in batch:
                    chunk.request.done_one(outcome)
        finally:
            state.running = False
            if not state.queue and self.keys.get(key) is state:
                del self.keys[key]
            elif state.queue:  # cancelled with work left: fail it rather than leave requests hanging
                cancelled = asyncio.CancelledError()
                for chunk in state.queue:
                    chunk.request.fail(cancelled)
                state.queue.clear()
                self.keys.pop(key, None)

    async def _call(self, key: str, unique: dict[AlertKey, tuple[Detection, bytes]], start: bool) -> str:
        """One batch to Temporal: its outcome once every alert in it is recorded in the incident's running run."""
        run = self.recorded.run_of(key) if start and self.running is not None else None
        repeats = [a for a, (_, sent) in unique.items() if run is not None and self.recorded.holds(key, a, sent)]
        skip = set(repeats)
        fresh = [det for a, (det, _) in unique.items() if a not in skip]
        first: Sent | None = None
        if fresh:
            first = await self._send(key, fresh, start)
            if not repeats or (first.run_id is not None and first.run_id == run):
                self._remember(key, first, unique, start)
                self.stats.repeats_skipped += len(repeats)
                return first.outcome
        elif self.running is not None and await self.running(key) == run:  # nothing new, and the same run runs
            self.stats.repeats_skipped += len(repeats)
            return "recorded"
        # The incident's run changed (continued as new, or closed and a new one opened): the repeats go to it too.
        sent = await self._send(key, [unique[a][0] for a in repeats], start)
        same_run = first is None or first.run_id == sent.run_id
        self._remember(key, sent, unique if same_run else {a: unique[a] for a in repeats}, start)
        return sent.outcome

    async def _send(self, key: str, detections: list[Detection], start: bool) -> Sent:
        self.stats.calls += 1
        self.stats.detections_sent += len(detections)
        self.stats.largest_batch = max(self.stats.largest_batch, len(detections))
        answer = await self.send(key, detections, start)
        return answer if isinstance(answer, Sent) else Sent(answer)

    def _remember(self, key: str, sent: Sent, unique: dict[AlertKey, tuple[Detection, bytes]], start: bool) -> None:
        if start and sent.run_id is not None and sent.outcome == "recorded":
            self.recorded.add(key, sent.run_id, {a: d for a, (_, d) in unique.items()})

    def _called(self, key: str) -> None:
        now = time.monotonic()
        self.last_call[key] = now
        if len(self.last_call) > 4096:  # forget incidents that have been quiet for longer than the interval
            self.last_call = {k: t for k, t in self.last_call.items() if now - t < self.min_interval}

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
