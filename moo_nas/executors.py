"""Executors run evaluations and hand back results as they finish.

:class:`Executor` is the extension point (registered in :data:`moo_nas.registry.EXECUTORS`).
The engine uses two calls: :meth:`Executor.submit` starts one evaluation, :meth:`Executor.wait_any`
returns the next one to finish; :meth:`Executor.map_unordered` runs a batch through them.
Each executor keeps a *clock*: the seconds its workers have been running, real for real
workers, simulated for :class:`SimulatedExecutor`.

* :class:`LocalExecutor` — ``workers = 1``: in this process, one at a time (the default);
  ``workers = N``: N spawned worker processes.
* :class:`SimulatedExecutor` — N simulated workers for table lookups: each evaluation lasts its
  recorded training time on a simulated clock and results come back in simulated finishing
  order (the way Syne Tune's simulator backend compares asynchronous strategies against
  wall-clock time on tabular benchmarks).  Deterministic.
* :class:`moo_nas.ray_executor.RayExecutor` — Ray tasks on a local or remote cluster.
"""

from __future__ import annotations

import heapq
import time
from abc import ABC, abstractmethod
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any, Callable, Iterator, Sequence


class Executor(ABC):
    """Runs ``fn(item)`` for submitted items; results come back in completion order."""

    name: str = "executor"
    #: evaluations this executor runs at once
    workers: int = 1

    @abstractmethod
    def submit(self, fn: Callable[[Any], Any], item: Any, at: float | None = None) -> int:
        """Start ``fn(item)``; return its ticket.  ``at``: the clock time the evaluation was
        originally started at (a resumed run restarting its evaluations in flight; only the
        simulated clock uses it)."""

    @abstractmethod
    def wait_any(self) -> tuple[int, Any]:
        """Block until a submitted evaluation finishes; return ``(ticket, result)``."""

    @abstractmethod
    def in_flight(self) -> int:
        """Evaluations submitted and not yet returned by :meth:`wait_any`."""

    def clock(self) -> float:
        """Seconds on this executor's clock since it started (real wall time by default)."""
        return time.perf_counter() - self._t0

    def set_clock(self, seconds: float) -> None:
        """Continue the clock from ``seconds`` (a resumed run continues its recorded clock)."""
        self._t0 = time.perf_counter() - seconds

    @property
    def in_process(self) -> bool:
        """True when each submitted evaluation runs in this process when :meth:`wait_any`
        reaches it, one at a time in submission order, on the real clock: the engine may then
        call the evaluations itself, in that order."""
        return False

    def occupy(self, result: Any, at: float | None = None) -> int | None:
        """Hold a worker for a result already known (a resumed run's stored evaluation) for as
        long as it took, so a simulated clock replays exactly; returns a ticket that
        :meth:`wait_any` returns with ``result``, or None where nothing is simulated."""
        return None

    def cancel(self) -> None:
        """Abandon every evaluation in flight (an interrupted search)."""

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Evaluate every item; yield ``(index, result)`` in completion order."""
        tickets = {self.submit(fn, item): i for i, item in enumerate(items)}
        try:
            while tickets:
                ticket, result = self.wait_any()
                yield tickets.pop(ticket), result
        finally:
            if tickets:
                self.cancel()

    def close(self) -> None:
        """Release workers (called once by the owner when the search ends)."""

    def describe(self) -> str:
        return f"{self.name} ({self.workers} worker{'s' if self.workers != 1 else ''})"

    _t0: float = 0.0


class LocalExecutor(Executor):
    """This machine: in-process and sequential (``workers = 1``, the default), or ``workers``
    spawned processes."""

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        from .errors import UserError

        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise UserError(f"workers must be a positive integer, got {workers!r}.")
        self.workers = workers
        self._t0 = time.perf_counter()
        self._next = 0
        self._queue: list[tuple[int, Callable[[Any], Any], Any]] = []
        self._futures: dict[Future, int] = {}
        self._pool: ProcessPoolExecutor | None = None

    @property
    def in_process(self) -> bool:
        return self.workers == 1

    def submit(self, fn: Callable[[Any], Any], item: Any, at: float | None = None) -> int:
        ticket, self._next = self._next, self._next + 1
        if self.workers == 1:
            self._queue.append((ticket, fn, item))
        else:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"))
            self._futures[self._pool.submit(fn, item)] = ticket
        return ticket

    def wait_any(self) -> tuple[int, Any]:
        if self.workers == 1:
            ticket, fn, item = self._queue.pop(0)
            return ticket, fn(item)
        done, _ = wait(list(self._futures), return_when=FIRST_COMPLETED)
        future = min(done, key=lambda f: self._futures[f])  # ties: submission order
        return self._futures.pop(future), future.result()

    def in_flight(self) -> int:
        return len(self._queue) + len(self._futures)

    def cancel(self) -> None:
        self._queue.clear()
        for f in self._futures:
            f.cancel()
        self._futures.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        self.cancel()


class SimulatedExecutor(Executor):
    """``workers`` simulated workers for table lookups (an evaluation with recorded training
    time).  :meth:`submit` looks the result up at once; the evaluation then occupies a
    simulated worker for its recorded ``work_s`` seconds, starting when one is free, and
    :meth:`wait_any` returns results in simulated finishing order (ties: submission order),
    advancing the clock.  Same submissions, same order and times: deterministic."""

    name = "simulated"

    def __init__(self, workers: int = 1) -> None:
        from .errors import UserError

        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise UserError(f"workers must be a positive integer, got {workers!r}.")
        self.workers = workers
        self.now = 0.0
        self._free = [0.0] * workers  # when each worker is free (a heap)
        self._events: list[tuple[float, int, Any]] = []
        self._next = 0

    def submit(self, fn: Callable[[Any], Any], item: Any, at: float | None = None) -> int:
        return self.occupy(fn(item), at)

    def occupy(self, result: Any, at: float | None = None) -> int:
        """Schedule ``result`` on the first free simulated worker (from ``at``, when given: an
        evaluation restarted at the time it originally started) for its ``work_s`` seconds."""
        ticket, self._next = self._next, self._next + 1
        free = heapq.heappop(self._free)
        start = at if at is not None else max(self.now, free)
        finish = start + float(getattr(result, "work_s", 0.0))
        heapq.heappush(self._free, finish)
        heapq.heappush(self._events, (finish, ticket, result))
        return ticket

    def wait_any(self) -> tuple[int, Any]:
        finish, ticket, result = heapq.heappop(self._events)
        self.now = max(self.now, finish)
        return ticket, result

    def in_flight(self) -> int:
        return len(self._events)

    def clock(self) -> float:
        return self.now

    def set_clock(self, seconds: float) -> None:
        self.now = seconds
        self._free = [max(t, seconds) for t in self._free]
        heapq.heapify(self._free)

    def cancel(self) -> None:
        self._events.clear()


def make_executor(name: str, **options: Any) -> Executor:
    """Executor by name from :data:`moo_nas.registry.EXECUTORS` (``local`` and ``simulated``
    with option ``workers``; ``ray`` with address, num_cpus, ...)."""
    from .errors import UserError
    from .registry import EXECUTORS

    if name == "ray":
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            raise UserError(f"the ray executor needs Ray: pip install 'moo-nas[ray]' ({exc}).") from None
    cls = EXECUTORS.get(name)
    if name in ("local", "simulated"):
        unknown = sorted(set(options) - {"workers"})
        if unknown:
            raise UserError(f"the {name} executor takes only the option workers, got {unknown}.")
    try:
        return cls(**options)
    except TypeError as exc:
        raise UserError(f"bad options for the {name} executor: {exc}.") from None
