"""The search engine: ask a strategy, evaluate (or reuse), store, tell — until the budget ends.

:func:`run_search` runs one strategy with one seed.  Every evaluation is committed to the store
as soon as it finishes.  Running the same command again *resumes*: the run is found by its
signature, a fresh strategy is built from the same seed and the stored observations are replayed
through ask/tell (checking that the strategy proposes the same genotypes), then the search goes
on.  Nothing completed is evaluated twice.

Reuse: a genotype already evaluated in this run is answered from the run itself (cost 0, the
strategy wasted a proposal); one evaluated by another run of the store with the same
architecture, task, recipe and training seed is copied (``cached``) and charged the cost it
originally had, so results and cost curves do not depend on the order runs were executed in.

Search cost of an evaluation = training + measurement + its share of the strategy's ask/tell
time, in seconds of the device that did the work.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from strategies import get_strategy
from strategies.base import Observation, Problem, Strategy

from .errors import UserError
from .evaluator import Evaluation
from .executors import Executor, LocalExecutor
from .space import Genotype
from .store import Store, StoredEvaluation

WORST = 1e12


@dataclass(frozen=True)
class Budget:
    """When a run stops: after ``evaluations`` evaluations, ``seconds`` of wall time in this
    session, or ``cost_hours`` of accumulated search cost (device-hours) — whichever first."""

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
    """What :func:`run_search` returns."""

    run_id: int
    evaluations: list[StoredEvaluation]
    replayed: int
    status: str
    stats: dict[str, Any]


def _sha(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def evaluator_config(evaluator: Any) -> dict[str, Any]:
    """What identifies an evaluator's results (for run signatures and cache keys)."""
    if hasattr(evaluator, "config"):
        return evaluator.config()
    return {"type": type(evaluator).__name__}


def observation(problem: Problem, genotype: Genotype, status: str,
                values: dict[str, float], evaluation: Any = None) -> Observation:
    """Turn stored metric values into what strategies see (minimisation form, g <= 0 ok)."""
    objs = problem.objectives
    if status == "failed":
        f = None
    else:
        f = np.array([o.to_min(values[o.name]) if o.name in values else WORST for o in objs])
    g = np.array([o.violation(values[o.name]) if o.name in values else 0.0
                  for o in problem.constrained], dtype=float)
    return Observation(genotype, f, g, status, evaluation)


def _stored_values(se: StoredEvaluation) -> dict[str, float]:
    return {k: v.value for k, v in se.values.items()}


class _Evaluate:
    """Picklable callable shipped to executors: one evaluation."""

    def __init__(self, evaluator: Any, seed: int):
        self.evaluator = evaluator
        self.seed = seed

    def __call__(self, item: tuple[Genotype, dict, Any]) -> Evaluation:
        genotype, known, warm = item
        return self.evaluator.evaluate(genotype, self.seed, known=known, warm_start=warm)


class _GroupCommit:
    """Commit policy of one run: every evaluation at once, or, for an evaluator whose results
    are ``recomputable`` (a table lookup: redoing it on resume costs nothing), in groups of at
    most ``max_rows`` rows or ``max_seconds`` seconds, so SQLite's per-commit cost does not
    bound a table-backed run's speed.  A killed run loses at most one group of lookups, which
    the same command looks up again."""

    def __init__(self, store: Store, grouped: bool, max_rows: int = 1000, max_seconds: float = 0.2):
        self.store, self.grouped = store, grouped
        self.max_rows, self.max_seconds = max_rows, max_seconds
        self._rows, self._since = 0, 0.0

    def add(self, ev: StoredEvaluation) -> None:
        if self.grouped and self._rows == 0:
            self.store.begin()
            self._since = time.perf_counter()
        self.store.add_evaluation(ev)
        if self.grouped:
            self._rows += 1
            if self._rows >= self.max_rows or time.perf_counter() - self._since >= self.max_seconds:
                self.flush()

    def flush(self) -> None:
        if self._rows:
            self.store.commit()
            self._rows = 0


def run_search(store: Store, problem: Problem, evaluator: Any, strategy: str | type[Strategy],
               strategy_options: dict[str, Any] | None, seed: int, budget: Budget,
               executor: Executor | None = None, experiment: str = "adhoc",
               progress: Callable[[int], None] | None = None) -> RunResult:
    """Run (or resume) one search; returns the run's stored evaluations.

    ``evaluator`` is any object with ``evaluate(genotype, seed, known=None, warm_start=None)``
    returning an :class:`~moo_nas.evaluator.Evaluation`; optional methods ``config()``,
    ``cache_key(genotype, seed)`` and ``shared_measurement_keys()`` refine reuse, and
    ``cacheable = False`` skips the cross-run cache lookup (table lookups are cheaper) and
    ``recomputable = True`` lets the engine commit its evaluations in groups (see
    :class:`_GroupCommit`).  ``progress`` is called with the number of newly finished evaluations.
    """
    strategy_options = dict(strategy_options or {})
    cls = get_strategy(strategy) if isinstance(strategy, str) else strategy
    executor = executor or LocalExecutor()
    space = problem.space
    ev_conf = evaluator_config(evaluator)
    objectives = [o.__dict__ for o in problem.objectives]
    signature = _sha([experiment, cls.name, strategy_options, seed, space.config(), ev_conf, objectives])
    strat = cls.create(problem, seed, strategy_options)  # bad options fail before the store is touched
    run_id, _ = store.get_or_create_run(
        signature, experiment, cls.name, strategy_options, seed, space.config(),
        ev_conf.get("task", {}), ev_conf.get("recipe", {}), objectives)
    history = store.evaluations(run_id)
    seen: dict[str, StoredEvaluation] = {}
    shared_keys = list(getattr(evaluator, "shared_measurement_keys", lambda: [])())
    call = _Evaluate(evaluator, seed)
    t_start = time.perf_counter()
    done, cost, replayed = 0, 0.0, 0
    pending_tell = 0.0
    results: list[StoredEvaluation] = []
    status = "finished"

    def cache_key(g: Genotype) -> str:
        if hasattr(evaluator, "cache_key"):
            return evaluator.cache_key(g, seed)
        return _sha([ev_conf, g.key, seed])

    writes = _GroupCommit(store, bool(getattr(evaluator, "recomputable", False)))
    try:
        while True:
            if budget.exhausted(done, time.perf_counter() - t_start, cost):
                break
            if strat.finished():
                break
            n = strat.batch_size()
            rem = budget.remaining_evaluations(done)
            if rem is not None:
                n = max(1, min(n, rem))
            stored_batch = history[done: done + n]
            t0 = time.perf_counter()
            if stored_batch and len(stored_batch) == n:
                batch = strat.replay_ask(n, [space.make(s.genotype) for s in stored_batch])
            else:
                batch = strat.ask(n)
            t_ask = time.perf_counter() - t0
            if not batch:
                break
            share = (t_ask + pending_tell) / len(batch)
            out: list[StoredEvaluation | None] = [None] * len(batch)
            to_run: list[int] = []
            keys: dict[int, str] = {}
            for i, g in enumerate(batch):
                seq = done + i
                if seq < len(history):
                    s = history[seq]
                    if s.genotype_key != g.key:
                        raise UserError(
                            f"cannot resume run {run_id}: strategy {cls.name!r} proposed {g} at step "
                            f"{seq} but the store holds another genotype there; the strategy is not "
                            "deterministic for its seed or its options changed — use a new store or experiment name.")
                    out[i] = s
                    replayed += 1
                    continue
                ck = cache_key(g)
                warm_started = strat.warm_start(g) is not None
                if warm_started:  # trained from the strategy's weights: not the same as from scratch
                    ck = _sha([ck, "warm-start", cls.name, strategy_options, seed, seq])
                keys[i] = ck
                if g.key in seen:
                    src = seen[g.key]
                    out[i] = StoredEvaluation(run_id, seq, g.key, g.to_dict(), src.arch_key, ck, src.status,
                                              src.values, 0.0, 0.0, share, share, 0.0, True, src.device, src.error)
                elif getattr(evaluator, "cacheable", True) and not warm_started:
                    prior = store.cached(ck)
                    if prior is not None:
                        out[i] = StoredEvaluation(run_id, seq, g.key, g.to_dict(), prior.arch_key, ck,
                                                  prior.status, prior.values, prior.train_s, prior.measure_s,
                                                  share, prior.train_s + prior.measure_s + share, 0.0, True,
                                                  prior.device, prior.error)
                if out[i] is not None:
                    writes.add(out[i])
                    if progress:
                        progress(1)
                else:
                    to_run.append(i)
            if to_run:
                items = []
                for i in to_run:
                    g = batch[i]
                    known = {}
                    if shared_keys:
                        akey = evaluator.arch_key(g)
                        for k in shared_keys:
                            m = store.measurement(f"{k}|{akey}")
                            if m is not None:
                                known[k] = m
                    items.append((g, known, strat.warm_start(g)))
                for j, ev in executor.map_unordered(call, items):
                    i = to_run[j]
                    g = batch[i]
                    se = StoredEvaluation(run_id, done + i, g.key, g.to_dict(), ev.arch_key, keys[i],
                                          ev.status, ev.values, ev.train_seconds, ev.measure_seconds, share,
                                          ev.train_seconds + ev.measure_seconds + share, ev.wall_seconds,
                                          False, ev.device, ev.error)
                    writes.add(se)
                    for k, vals in ev.fresh_measurements.items():
                        store.put_measurement(f"{k}|{ev.arch_key}", vals)
                    out[i] = se
                    if progress:
                        progress(1)
            obs = []
            for g, s in zip(batch, out):
                assert s is not None
                seen.setdefault(g.key, s)
                obs.append(observation(problem, g, s.status, _stored_values(s), s))
                cost += s.cost_s
            t0 = time.perf_counter()
            strat.tell(obs)
            pending_tell = time.perf_counter() - t0
            done += len(batch)
            results.extend(out)  # type: ignore[arg-type]
    finally:
        writes.flush()  # what was done stays stored, also when a strategy or evaluator raises
    stats = dict(strat.stats())
    store.set_run_status(run_id, status, stats)
    return RunResult(run_id, results, replayed, status, stats)
