"""The search engine: ask a strategy, evaluate (or reuse), record, tell — until the budget ends.

:func:`run_search` runs one strategy with one seed as a :class:`SearchRun`, in four steps per
batch: **propose** (ask the strategy; the ask is recorded), **reuse** (answer a genotype from the
run itself or from another run's identical evaluation), **dispatch** (evaluate the rest on the
executor; each result is recorded as soon as it finishes) and **tell** (give the batch's results
to the strategy; the tell is recorded).

Resume: the store keeps every ask and tell in order (:class:`moo_nas.store.Event`).  Running the
same command again finds the run by its signature, builds a fresh strategy with the same seed
and replays the recorded asks and tells through it (checking that it proposes the same
genotypes), then finishes the batch that was in flight — only its missing results are
evaluated — and goes on.  Results are looked up by sequence number, never by position, so a run
killed at any point resumes to exactly what an uninterrupted run would have done.

A run is claimed by the process executing it (owner + heartbeat in the store): a second
process refuses it; the claim of a dead process is taken over.

Budget: ``evaluations`` counts distinct genotypes (canonical forms, so genotypes that build the
same network count once); a repeated proposal is answered from the run at no cost and does not
count.  A strategy that proposes nothing new for :data:`MAX_STALE_ASKS` asks in a row is
stopped (its space is exhausted); so is one that declares itself finished or (synchronously)
proposes nothing.  Such a run is finished with the reason in its stats, and the same command
later reads it rather than resuming it (the replay would end the same way).

Reuse across runs: a genotype evaluated by another run of the store with the same architecture,
task, recipe and training seed is copied (``cached``) and charged the cost it originally had, so
results and cost curves do not depend on the order runs were executed in.

Search cost of an evaluation = training + measurement + its share of the strategy's ask/tell
time, in seconds of the device that did the work (:func:`moo_nas.training.device_seconds`: CPU
time of the process on a CPU, so the cost does not grow with the machine's load; wall time is
kept beside it in ``wall_s``).  The strategy's ask/tell time is wall time (a CPU-time clock is a
system call, too slow to read around every ask of a table-backed run), except for a strategy that
computes heavily in ask/tell (:attr:`Strategy.device_clock`: ``dnas`` trains a supernet, the
Bayesian strategies fit models): its ask/tell time is read on the device clock, the one training
is charged on.
"""

from __future__ import annotations

import gc
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .claim import CLAIM_GRACE_S, Heartbeat
from .errors import UserError
from .evaluator import Evaluator
from .executors import Executor, LocalExecutor
from .objectives import Value
from .records import Evaluation
from .run_writer import RunWriter
from .registry import STRATEGIES
from .space import Genotype
from .store import Event, Store, new_owner
from .training import device_seconds
from .strategy import Observation, Problem, Strategy

WORST = 1e12
#: asks in a row that proposed only genotypes the run has already evaluated before it stops
MAX_STALE_ASKS = 50
#: most genotypes per ask for strategies that can ask ahead (see ``SearchRun._batch``)
ASK_AHEAD = 256
#: allocations between young-generation collections during table-backed runs
GC_THRESHOLD = 50_000


@dataclass(frozen=True)
class Budget:
    """When a run stops: after ``evaluations`` distinct genotypes, ``seconds`` of wall time in
    this session, or ``cost_hours`` of accumulated search cost (device-hours) — whichever first."""

    evaluations: int | None = None
    seconds: float | None = None
    cost_hours: float | None = None

    def __post_init__(self) -> None:
        if self.evaluations is None and self.seconds is None and self.cost_hours is None:
            raise UserError("a budget needs evaluations, seconds or cost_hours.")
        for name in ("evaluations", "seconds", "cost_hours"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0):
                raise UserError(f"budget {name} must be a positive number, got {v!r}.")

    def remaining_evaluations(self, done: int) -> int | None:
        return None if self.evaluations is None else max(0, int(self.evaluations) - done)

    def exhausted(self, done: int, elapsed: float, cost_s: float) -> bool:
        return ((self.evaluations is not None and done >= self.evaluations)
                or (self.seconds is not None and elapsed >= self.seconds)
                or (self.cost_hours is not None and cost_s / 3600.0 >= self.cost_hours))

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class RunResult:
    """What :func:`run_search` returns: the run's evaluations in sequence order."""

    run_id: int
    evaluations: list[Evaluation]
    replayed: int
    status: str
    stats: dict[str, Any]


def _sha(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def observation(problem: Problem, genotype: Genotype, ev: Evaluation) -> Observation:
    """What a strategy sees of an evaluation: objectives in minimisation form (None when it
    failed; worst values for metrics it lacks), constraint values (<= 0 feasible)."""
    return _Observer(problem)(genotype, ev)


_NO_CONSTRAINTS = np.zeros(0)
_NO_CONSTRAINTS.flags.writeable = False


class _Observer:
    """:func:`observation` for one problem, with its objectives read once (a table-backed run
    builds thousands of observations a second)."""

    def __init__(self, problem: Problem) -> None:
        # minimisation form: the value times the sign (exact: maximised metrics are negated)
        self.objectives = [(o.name, 1.0 if o.direction == "min" else -1.0) for o in problem.objectives]
        self.constrained = problem.constrained

    def __call__(self, genotype: Genotype, ev: Evaluation) -> Observation:
        values = ev.values
        f = None if ev.status == "failed" else np.array(
            [sign * values[n].value if n in values else WORST for n, sign in self.objectives],
            dtype=float)
        g = _NO_CONSTRAINTS if not self.constrained else np.array(
            [o.violation(values[o.name].value) if o.name in values else 0.0
             for o in self.constrained], dtype=float)
        return Observation(genotype, f, g, ev.status, ev)


class _Evaluate:
    """Picklable callable shipped to executors: one evaluation of ``(genotype, known, warm)``."""

    def __init__(self, evaluator: Evaluator, seed: int):
        self.evaluator = evaluator
        self.seed = seed

    def __call__(self, item: tuple[Genotype, dict, Any]) -> Evaluation:
        genotype, known, warm = item
        return self.evaluator.evaluate(genotype, self.seed, known=known, warm_start=warm)


class SearchRun:
    """One strategy with one seed on one store: open (or resume), search, close.

    The steps of a batch are methods — :meth:`propose`, :meth:`reuse`, :meth:`dispatch`,
    :meth:`tell` — so each can be tested and the asynchronous engine reuses them."""

    def __init__(self, store: Store, problem: Problem, evaluator: Evaluator,
                 strategy: "str | type[Strategy]", strategy_options: dict[str, Any] | None,
                 seed: int, budget: Budget, executor: Executor | None = None,
                 experiment: str = "adhoc", progress: Callable[[int], None] | None = None) -> None:
        self.store, self.problem, self.evaluator = store, problem, evaluator
        self.space = problem.space
        self.options = dict(strategy_options or {})
        self.cls = STRATEGIES.get(strategy) if isinstance(strategy, str) else strategy
        self.seed, self.budget, self.experiment = int(seed), budget, experiment
        self.executor = executor or LocalExecutor()
        self.progress = progress
        self.ev_conf = evaluator.config()
        self.strategy = self.cls.create(problem, self.seed, self.options)  # bad options: before the store
        # the clock the strategy's ask/tell time is charged on (see the module docstring)
        self._strategy_clock = device_seconds if self.strategy.device_clock else time.perf_counter
        identity = [experiment, self.cls.name, self.options, self.seed, self.space.config(),
                    self.ev_conf, [o.__dict__ for o in problem.objectives]]
        if self.executor.workers > 1:  # N workers make another run (results arrive in another order)
            identity.append({"workers": self.executor.workers, "executor": self.executor.name})
        self.signature = _sha(identity)
        self.shared_keys = list(evaluator.shared_measurement_keys())
        self.call = _Evaluate(evaluator, self.seed)
        self.observe = _Observer(problem)
        # state rebuilt by replay and advanced by the search
        self.run_id = 0
        self.results: dict[int, Evaluation] = {}   # seq -> evaluation, as recorded
        self.asked: dict[int, Genotype] = {}       # seq -> genotype, every ask so far
        self.ask_clock: dict[int, float] = {}      # seq -> the run's clock when it was asked
        self._pending: dict[int, Genotype] = {}    # asked, not yet told
        self.last_clock = 0.0
        self.told: set[int] = set()
        self.first: dict[str, Evaluation] = {}     # genotype key -> its first evaluation in the run
        self.next_seq = 0
        self.cost_s = 0.0
        self.replayed = 0                          # evaluations found stored when the run opened
        self.stale_asks = 0
        self.tell_seconds = 0.0
        self.stop_reason = ""

    # ------------------------------------------------------------------ open / close
    def open(self) -> bool:
        """Create or find the run, claim it, and replay its recorded history.  Returns False
        (nothing claimed or replayed) for a finished run that already holds its budget of
        evaluations: running the same command again then only reads it."""
        objectives = [o.__dict__ for o in self.problem.objectives]
        self.run_id, created = self.store.get_or_create_run(
            self.signature, self.experiment, self.cls.name, self.options, self.seed,
            self.space.config(), self.ev_conf.get("task", {}), self.ev_conf.get("recipe", {}), objectives)
        if not created and self._complete_already():
            return False
        self.owner = new_owner()
        self.store.claim_run(self.run_id, self.owner, CLAIM_GRACE_S)
        self.heartbeat = Heartbeat(self.store, self.run_id, self.owner)
        try:  # from here on an interruption (Ctrl-C included) releases the claim
            events = self.store.events(self.run_id)
            self.results = {e.seq: e for e in self.store.evaluations(self.run_id)}
            self.replayed = len(self.results)
            self.writer = RunWriter(self.store, self.run_id, len(events),
                                  buffered=bool(self.evaluator.recomputable))
            self.t_start = time.perf_counter()
            if self.results and not events:
                raise UserError(f"run {self.run_id} of store {self.store.path} was recorded by an older "
                                "moo_nas without an event log; it can be reported but not resumed — "
                                "use a new store or experiment name.")
            self.replay(events)
        except BaseException:
            self._release("interrupted")
            raise
        return True

    def complete_in_store(self) -> bool:
        """True when the store holds this run finished with its whole evaluation budget, so
        :meth:`run` would only read it (checked without writing anything)."""
        run_id = self.store.find_run(self.signature)
        if run_id is None:
            return False
        self.run_id = run_id
        return self._complete_already()

    def _complete_already(self) -> bool:
        b = self.budget
        if b.evaluations is None or b.seconds is not None or b.cost_hours is not None:
            return False
        run = self.store.run(self.run_id)
        if run.status != "finished":
            return False
        evaluations = self.store.evaluations(self.run_id)
        # a run whose strategy stopped it early (nothing new for MAX_STALE_ASKS asks, finished,
        # nothing proposed) is complete with fewer: a replay would end the same way, after
        # repeating every ask
        if len({e.genotype_key for e in evaluations}) < b.evaluations and not run.stats.get("stopped"):
            return False
        self.results = {e.seq: e for e in evaluations}
        self.replayed = len(evaluations)
        return True

    def _release(self, status: str) -> None:
        self.heartbeat.stop()
        stats = {**self.strategy.stats(), **({"stopped": self.stop_reason} if self.stop_reason else {})}
        self.store.release_run(self.run_id, self.owner, status, stats)

    # ------------------------------------------------------------------ replay
    def replay(self, events: Sequence[Event]) -> None:
        """Feed the recorded asks and tells through the fresh strategy, in their order."""
        for e in events:
            if e.kind == "ask":
                stored = [self.space.make(g) for g in e.genotypes]
                if all(seq in self.results for seq in e.seqs):
                    batch = self.strategy.replay_ask(e.asked, stored)
                else:  # the batch in flight: a real ask, so the strategy holds what it needs
                    batch = self.strategy.ask(e.asked)  # to evaluate it (e.g. DNAS warm starts)
                for seq, g, s in zip(e.seqs, batch, stored):
                    if g.key != s.key:
                        raise UserError(
                            f"cannot resume run {self.run_id}: strategy {self.cls.name!r} proposed {g} "
                            f"at step {seq} but the store holds {s} there; the strategy is not "
                            "deterministic for its seed or its code changed — use a new store or "
                            "experiment name.")
                if len(batch) != len(stored):
                    raise UserError(f"cannot resume run {self.run_id}: strategy {self.cls.name!r} "
                                    f"proposed {len(batch)} genotypes where it had proposed "
                                    f"{len(stored)}; use a new store or experiment name.")
                self.asked.update(zip(e.seqs, stored))
                self._pending.update(zip(e.seqs, stored))
                self.ask_clock.update((seq, e.clock) for seq in e.seqs)
                self.next_seq = max(self.next_seq, max(e.seqs) + 1)
            else:
                missing = [s for s in e.seqs if s not in self.results]
                if missing:
                    raise UserError(f"store {self.store.path} is inconsistent: run {self.run_id} told "
                                    f"results {missing} that it does not hold; use a new store.")
                self._tell(list(e.seqs), record=False)
            self.last_clock = max(self.last_clock, e.clock)
        for seq in sorted(self.results):  # results of the batch in flight count towards the budget
            if seq not in self.told:
                self._remember(self.results[seq])

    # ------------------------------------------------------------------ the four steps
    def propose(self, n: int) -> list[int]:
        """Ask the strategy for up to ``n`` genotypes; record the ask; return their seqs."""
        self.strategy.pending = tuple(self._pending.values())
        t0 = self._strategy_clock()
        batch = self.strategy.ask(n)
        t_ask = self._strategy_clock() - t0
        if not batch:
            return []
        seqs = list(range(self.next_seq, self.next_seq + len(batch)))
        self.next_seq += len(batch)
        self.asked.update(zip(seqs, batch))
        self._pending.update(zip(seqs, batch))
        clock = self.executor.clock()
        self.ask_clock.update((s, clock) for s in seqs)
        self._share = (t_ask + self.tell_seconds) / len(batch)
        self.writer.event(Event("ask", tuple(seqs), tuple(g.to_dict() for g in batch), n, clock,
                                keys=tuple(g.key for g in batch)))
        return seqs

    def cache_key(self, seq: int, genotype: Genotype, warm: Any) -> str:
        """Cache key of an evaluation: the evaluator's, or a private one when the strategy
        warm-starts it (``warm``: trained from the strategy's weights, not comparable with
        training from scratch); empty for an evaluator whose results are not shared
        (:attr:`Evaluator.cacheable` false: nothing would look the key up)."""
        if not self.evaluator.cacheable:
            return ""
        ck = self.evaluator.cache_key(genotype, self.seed)
        if warm is not None:
            ck = _sha([ck, "warm-start", self.cls.name, self.options, self.seed, seq])
        return ck

    def reuse(self, seq: int, genotype: Genotype, ck: str, warm: Any = None) -> Evaluation | None:
        """The result for ``genotype`` without evaluating: the run's own earlier evaluation (no
        cost) or another run's with the same cache key (its original cost), else None."""
        share = self._share
        src = self.first.get(genotype.key)
        if src is not None:
            return src.placed(run_id=self.run_id, seq=seq, cache_key=ck, train_s=0.0, measure_s=0.0,
                              wall_s=0.0, strategy_s=share, cost_s=share, cached=True,
                              fresh_measurements={})
        if not self.evaluator.cacheable or warm is not None:
            return None
        prior = self.store.cached(ck)
        if prior is None:
            return None
        return prior.placed(run_id=self.run_id, seq=seq, genotype_key=genotype.key,
                            genotype=genotype.to_dict(), cache_key=ck, strategy_s=share,
                            cost_s=prior.work_s + share, wall_s=0.0, cached=True)

    def dispatch(self, work: Sequence[tuple[int, Genotype, str, Any]],
                 occupied: Sequence[Evaluation] = ()) -> Iterator[Evaluation]:
        """Evaluate ``(seq, genotype, cache key, warm-start weights)`` items on the executor;
        yield each result, placed in the run, as it finishes.  ``occupied``: stored results of
        the same batch (a resumed run), which hold a simulated worker for their recorded time
        so the simulated clock advances exactly as it did (nothing is evaluated for them)."""
        if not occupied and self.executor.in_process:  # one after another, here: no tickets
            for seq, g, ck, warm in work:
                ev = self.call((g, self._known(g), warm))
                yield self._fresh(ev, seq, ck)
            return
        order: list[tuple[int, str, Any]] = sorted(
            [(w[0], "work", w) for w in work] + [(e.seq, "stored", e) for e in occupied],
            key=lambda x: x[0])
        tickets: dict[int, tuple[int, str, Any]] = {}
        for seq, kind, payload in order:
            if kind == "work":
                _, g, ck, warm = payload
                tickets[self.executor.submit(self.call, (g, self._known(g), warm))] = (seq, ck, None)
            else:
                t = self.executor.occupy(payload)
                if t is not None:
                    tickets[t] = (seq, "", payload)
        try:
            while tickets:
                ticket, ev = self.executor.wait_any()
                seq, ck, stored = tickets.pop(ticket)
                if stored is None:
                    yield self._fresh(ev, seq, ck)
        finally:
            if tickets:
                self.executor.cancel()

    def _fresh(self, ev: Evaluation, seq: int, ck: str) -> Evaluation:
        """An evaluator's result placed in the run at ``seq``: charged its work and its share
        of the strategy's time."""
        return ev.placed(run_id=self.run_id, seq=seq, cache_key=ck, strategy_s=self._share,
                         cost_s=ev.work_s + self._share, cached=False)

    def tell(self, seqs: list[int]) -> None:
        """Give the results of ``seqs`` to the strategy, in that order; record the tell."""
        self._tell(seqs, record=True)

    # ------------------------------------------------------------------ helpers of the steps
    def _known(self, genotype: Genotype) -> dict[str, dict[str, Value]]:
        if not self.shared_keys:
            return {}
        akey = self.evaluator.arch_key(genotype)
        found = {k: self.store.measurement(f"{k}|{akey}") for k in self.shared_keys}
        return {k: m for k, m in found.items() if m is not None}

    def _remember(self, ev: Evaluation) -> None:
        self.first.setdefault(ev.genotype_key, ev)

    def _record(self, ev: Evaluation) -> None:
        ev.clock_s = self.executor.clock()
        new = ev.genotype_key not in self.first
        self.results[ev.seq] = ev
        self._remember(ev)
        self.writer.evaluation(ev)
        if new and self.progress:
            self.progress(1)

    def _tell(self, seqs: list[int], record: bool) -> None:
        obs = []
        for s in seqs:
            ev = self.results[s]
            self._remember(ev)
            self.cost_s += ev.cost_s
            obs.append(self.observe(self.asked[s], ev))
        t0 = self._strategy_clock()
        self.strategy.tell(obs)
        self.tell_seconds = self._strategy_clock() - t0
        self.told.update(seqs)
        for s in seqs:
            self._pending.pop(s, None)
        if record:
            self.writer.event(Event("tell", tuple(seqs), clock=self.executor.clock()))

    def complete(self, seqs: Sequence[int], resumed: bool = False) -> bool:
        """Give every seq of an asked batch a recorded result, in order: reuse what can be
        reused, evaluate the rest (recorded as they finish; a genotype asked twice in one batch
        is evaluated once).  Stops before the first seq that would exceed the evaluation
        budget: the rest of the batch stays in flight, and a resumed run with a larger budget
        finishes it exactly as an uninterrupted run would have.  True when all have results."""
        allowed = self.budget.remaining_evaluations(self.distinct)
        work, repeats, in_batch = [], [], set()
        occupied = [self.results[s] for s in seqs if resumed and s in self.results
                    and not self.results[s].cached]
        complete = True
        # (looked up once per batch: most strategies warm-start nothing, a table shares nothing)
        warm_start: Callable[[Genotype], Any] | None = self.strategy.warm_start
        if getattr(warm_start, "__func__", None) is Strategy.warm_start:
            warm_start = None
        cacheable = self.evaluator.cacheable
        for s in seqs:
            if s in self.results:
                continue
            g = self.asked[s]
            warm = warm_start(g) if warm_start is not None else None
            ck = self.cache_key(s, g, warm) if cacheable else ""
            if (g.key in self.first or g.key in in_batch) and warm is None:
                repeats.append((s, g, ck))  # answered from the run, after its first evaluation
                continue
            if allowed is not None and allowed <= 0:
                complete = False
                break
            if allowed is not None:
                allowed -= 1
            ev = self.reuse(s, g, ck, warm)
            if ev is not None:
                self._record(ev)
            else:
                in_batch.add(g.key)
                work.append((s, g, ck, warm))
        for ev in self.dispatch(work, occupied):
            self._record(ev)
            if self.heartbeat.lost.is_set():
                raise UserError(f"run {self.run_id} was taken over by another process; this one stops.")
        for s, g, ck in repeats:
            ev = self.reuse(s, g, ck)
            assert ev is not None  # its first occurrence is recorded by now
            self._record(ev)
        return complete

    # ------------------------------------------------------------------ the loop
    @property
    def distinct(self) -> int:
        """Distinct genotypes evaluated so far (what the budget counts)."""
        return len(self.first)

    def search(self) -> None:
        """Finish the batch in flight (after a resume), then ask / complete / tell until the
        budget ends or the strategy has nothing new to propose."""
        self._share = 0.0
        pending = sorted(s for s in self.asked if s not in self.told)
        self.executor.set_clock(self.ask_clock[pending[0]] if pending else self.last_clock)
        if pending:
            if not self.complete(pending, resumed=True):
                return
            self.tell(pending)
        while True:
            if self.budget.exhausted(self.distinct, time.perf_counter() - self.t_start, self.cost_s):
                break
            if self.strategy.finished():
                self.stop_reason = "the strategy finished"
                break
            before = self.distinct
            seqs = self.propose(self._batch())
            if not seqs:
                self.stop_reason = "the strategy proposed nothing"
                break
            if not self.complete(seqs):
                break  # the evaluation budget ended inside this batch
            self.tell(seqs)
            self.stale_asks = 0 if self.distinct > before else self.stale_asks + 1
            if self.stale_asks >= MAX_STALE_ASKS:
                self.stop_reason = (f"the strategy proposed only genotypes already evaluated for "
                                    f"{MAX_STALE_ASKS} asks in a row")
                break

    def _batch(self) -> int:
        """Genotypes per synchronous ask: the strategy's batch size, or, for a strategy whose
        proposals do not depend on results (:attr:`Strategy.ask_ahead`) evaluated by lookups
        that cost nothing to redo under an evaluation-count budget, up to :data:`ASK_AHEAD` at
        once (the same genotypes in the same order; fewer asks, events and store rows) — one
        at a time again after an ask that found nothing new (a space seen in full)."""
        n = self.strategy.batch_size()
        b = self.budget
        if (self.strategy.ask_ahead and self.evaluator.recomputable and b.evaluations is not None
                and b.seconds is None and b.cost_hours is None and not self.stale_asks):
            left = b.remaining_evaluations(self.distinct) or 1
            n = max(n, min(ASK_AHEAD, left))
        return n

    def search_async(self) -> None:
        """Keep ``workers`` evaluations in flight: ask for one genotype whenever a worker is
        free, tell each result the moment it arrives (the order is recorded, so a resumed run
        replays it).  A genotype asked while its first evaluation is in flight waits for it."""
        self._share = 0.0
        flight: dict[int, int] = {}                # ticket -> seq
        flight_keys: dict[str, int] = {}           # genotype key in flight -> its seq
        waiting: dict[str, list[tuple[int, str]]] = {}
        pending = sorted(s for s in self.asked if s not in self.told)
        untold = [s for s in pending if s in self.results]  # stored, not told when it stopped
        self.executor.set_clock(max([self.last_clock] + [self.results[s].clock_s for s in untold]))
        for s in untold:
            self.tell([s])
        for s in pending:  # evaluations in flight when it stopped restart where they started
            if s not in self.results:
                self._start(s, flight, flight_keys, waiting, at=self.ask_clock.get(s))
        asking = True
        while True:
            while asking and len(flight) < self.executor.workers:
                left = self.budget.remaining_evaluations(self.distinct + len(flight_keys))
                if ((left is not None and left <= 0)
                        or self.budget.exhausted(self.distinct, time.perf_counter() - self.t_start,
                                                 self.cost_s)):
                    asking = False
                    break
                if self.strategy.finished():
                    self.stop_reason = "the strategy finished"
                    asking = False
                    break
                before = self.distinct + len(flight_keys)
                seqs = self.propose(1)
                if not seqs:
                    asking = False
                    break
                for s in seqs:
                    self._start(s, flight, flight_keys, waiting)
                self.stale_asks = 0 if self.distinct + len(flight_keys) > before else self.stale_asks + 1
                if self.stale_asks >= MAX_STALE_ASKS:
                    self.stop_reason = (f"the strategy proposed only genotypes already evaluated for "
                                        f"{MAX_STALE_ASKS} asks in a row")
                    asking = False
            if not flight:
                break
            ticket, ev = self.executor.wait_any()
            s = flight.pop(ticket)
            g = self.asked[s]
            flight_keys.pop(g.key, None)
            ck = self.cache_key(s, g, None)
            self._record(self._fresh(ev, s, ck))
            self.tell([s])
            for r, rck in waiting.pop(g.key, []):
                repeat = self.reuse(r, g, rck)
                assert repeat is not None
                self._record(repeat)
                self.tell([r])
            if self.heartbeat.lost.is_set():
                raise UserError(f"run {self.run_id} was taken over by another process; this one stops.")

    def _start(self, s: int, flight: dict[int, int], flight_keys: dict[str, int],
               waiting: dict[str, list[tuple[int, str]]], at: float | None = None) -> None:
        """Answer seq ``s`` at once (a repeat or a cached result: recorded and told) or put its
        evaluation in flight."""
        g = self.asked[s]
        ck = self.cache_key(s, g, None)
        if g.key in flight_keys:
            waiting.setdefault(g.key, []).append((s, ck))
            return
        ev = self.reuse(s, g, ck)
        if ev is not None:
            self._record(ev)
            self.tell([s])
            return
        flight[self.executor.submit(self.call, (g, self._known(g), None), at=at)] = s
        flight_keys[g.key] = s

    def run(self) -> RunResult:
        """Open, search and close; the run is released as ``finished`` or ``interrupted``
        (every completed evaluation stays stored either way)."""
        if not self.open():
            evaluations = [self.results[s] for s in sorted(self.results)]
            return RunResult(self.run_id, evaluations, self.replayed, "finished",
                             dict(self.store.run(self.run_id).stats))
        status = "interrupted"
        relaxed = gc.get_threshold()
        if self.evaluator.recomputable:
            # table lookups create thousands of small records a second; the cyclic collector
            # would rescan every live record (the run's history) many times over
            gc.set_threshold(max(relaxed[0], GC_THRESHOLD), *relaxed[1:])
        try:
            if self.strategy.asynchronous and self.executor.workers > 1:
                self.search_async()
            else:
                self.search()
            status = "finished"
        finally:
            try:
                self.writer.flush()  # what was done stays stored, also when something raised
            finally:
                gc.set_threshold(*relaxed)
                self._release(status)
        evaluations = [self.results[s] for s in sorted(self.results)]
        return RunResult(self.run_id, evaluations, self.replayed, status, dict(self.strategy.stats()))


def run_search(store: Store, problem: Problem, evaluator: Evaluator, strategy: "str | type[Strategy]",
               strategy_options: dict[str, Any] | None, seed: int, budget: Budget,
               executor: Executor | None = None, experiment: str = "adhoc",
               progress: Callable[[int], None] | None = None) -> RunResult:
    """Run (or resume) one search; returns the run's stored evaluations.  ``progress`` is
    called with the number of newly evaluated distinct genotypes."""
    return SearchRun(store, problem, evaluator, strategy, strategy_options, seed, budget,
                     executor, experiment, progress).run()
