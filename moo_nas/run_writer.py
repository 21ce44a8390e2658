"""The writes of one run (:class:`RunWriter`): each evaluation and ask/tell event durable when
recorded, or buffered for evaluators whose results can be recomputed (table lookups)."""

from __future__ import annotations

import time

from .objectives import Value
from .records import Evaluation
from .store import Event, Store


class RunWriter:
    """The run's writes: at once (each evaluation durable when recorded) or, for an evaluator
    whose results are ``recomputable`` (a table lookup), buffered and written in one short
    transaction per ``max_rows`` rows or ``max_seconds`` seconds.  A killed run loses at most
    the buffer, which the same command recomputes.  No transaction stays open while the
    strategy or the evaluator works, so parallel runs on one store never starve each other."""

    #: a buffered writer writes when it holds this many rows and events, or this many seconds
    max_rows, max_seconds = 5000, 0.2

    def __init__(self, store: Store, run_id: int, first_event: int, buffered: bool) -> None:
        self.store, self.run_id, self.buffered = store, run_id, buffered
        self.next_event = first_event
        self._evals: list[Evaluation] = []
        self._events: list[tuple[int, int, Event]] = []
        self._measurements: list[tuple[str, dict[str, Value]]] = []
        self._since = time.perf_counter()

    def evaluation(self, ev: Evaluation) -> None:
        self._evals.append(ev)
        for key, vals in ev.fresh_measurements.items():
            self._measurements.append((f"{key}|{ev.arch_key}", vals))
        self._maybe_flush()

    def event(self, event: Event) -> None:
        self._events.append((self.run_id, self.next_event, event))
        self.next_event += 1
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if (not self.buffered or len(self._evals) + len(self._events) >= self.max_rows
                or time.perf_counter() - self._since >= self.max_seconds):
            self.flush()

    def flush(self) -> None:
        if self._evals or self._events or self._measurements:
            self.store.append(self._evals, self._events, self._measurements)
            self._evals, self._events, self._measurements = [], [], []
        self._since = time.perf_counter()
