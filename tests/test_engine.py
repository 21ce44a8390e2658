import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from moo_nas.engine import Budget, run_search
from moo_nas.errors import UserError
from moo_nas.objectives import make_objective
from moo_nas.store import Store

from digits_search import child_env, digits_problem, search_command, watch_store

OBJS = (make_objective("val_accuracy"), make_objective("model_bytes"), make_objective("peak_act_bytes"))


@pytest.mark.parametrize("strategy,options", [("random", {}), ("nsga2", {"pop_size": 4})])
def test_same_seed_same_proposals_and_resume_equality(tmp_path, strategy, options):
    pb, e = digits_problem(OBJS)
    with Store(tmp_path / "a.sqlite") as s:
        full = run_search(s, pb, e, strategy, options, 7, Budget(evaluations=10))
    with Store(tmp_path / "b.sqlite") as s:
        part = run_search(s, pb, e, strategy, options, 7, Budget(evaluations=5))
        assert len(part.evaluations) == 5
        resumed = run_search(s, pb, e, strategy, options, 7, Budget(evaluations=10))
        assert resumed.replayed == 5
    assert [x.genotype_key for x in full.evaluations] == [x.genotype_key for x in resumed.evaluations]
    assert [x.value("val_accuracy") for x in full.evaluations] == [x.value("val_accuracy") for x in resumed.evaluations]
    with Store(tmp_path / "c.sqlite") as s:
        other = run_search(s, pb, e, strategy, options, 8, Budget(evaluations=10))
    assert [x.genotype_key for x in other.evaluations] != [x.genotype_key for x in full.evaluations]


def test_cache_across_runs_charges_original_cost(tmp_path):
    pb, e = digits_problem(OBJS)
    with Store(tmp_path / "s.sqlite") as s:
        a = run_search(s, pb, e, "random", {}, 3, Budget(evaluations=4), experiment="x")
        b = run_search(s, pb, e, "random", {}, 3, Budget(evaluations=4), experiment="y")
    assert all(ev.cached for ev in b.evaluations)
    for x, y in zip(a.evaluations, b.evaluations):
        assert x.values["val_accuracy"] == y.values["val_accuracy"]
        assert y.cost_s >= x.train_s + x.measure_s


def test_nsga2_respects_constraints_and_never_repeats(tmp_path):
    objs = (make_objective("val_accuracy"), make_objective("model_bytes", 8000))
    pb, e = digits_problem(objs)
    with Store(tmp_path / "s.sqlite") as s:
        r = run_search(s, pb, e, "nsga2", {"pop_size": 6}, 0, Budget(evaluations=24))
    keys = [x.genotype_key for x in r.evaluations]
    assert len(set(keys)) == len(keys)
    late = r.evaluations[12:]
    feasible_late = sum(x.status == "ok" for x in late)
    assert feasible_late >= len(late) // 2  # the population moves into the feasible region
    for x in r.evaluations:
        if x.status == "ok":
            assert x.value("model_bytes") <= 8000
        else:
            assert x.status == "infeasible" and x.train_s == 0


def test_strategy_changed_between_runs_is_a_clear_error(tmp_path):
    pb, e = digits_problem(OBJS)
    with Store(tmp_path / "s.sqlite") as s:
        r = run_search(s, pb, e, "random", {}, 0, Budget(evaluations=3))
        # rewrite the history: the first ask proposed another genotype than this strategy does
        other = pb.space.mutate(pb.space.make(r.evaluations[0].genotype), np.random.default_rng(1))
        s.conn.execute("UPDATE events SET genotypes_json=? WHERE run_id=? AND idx=0",
                       (json.dumps([other.to_dict()]), r.run_id))
        with pytest.raises(UserError, match="cannot resume"):
            run_search(s, pb, e, "random", {}, 0, Budget(evaluations=5))


def test_kill_9_then_same_command_resumes_without_losing_work(tmp_path):
    store = tmp_path / "k.sqlite"
    cmd = search_command(store, tmp_path / "rep", 12, 2, "--seed", "5")
    env = child_env()
    p = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    n = watch_store(store, lambda s: len(s.evaluations(s.runs()[0].id)) if s.runs() else 0, 3, 120)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert 3 <= n < 12, "the search should have been killed mid-run"
    with Store(store) as s:
        before = s.evaluations(s.runs()[0].id)
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    with Store(store) as s:
        after = s.evaluations(s.runs()[0].id)
    assert len(after) == 12
    for b, a in zip(before, after):
        assert (b.seq, b.genotype_key, b.values, b.finished) == (a.seq, a.genotype_key, a.values, a.finished)
    assert not any(a.cached for a in after)  # nothing retrained, nothing duplicated


@pytest.mark.parametrize("device_clock", [False, True])
def test_strategy_time_is_charged_on_the_training_clock_when_the_strategy_asks_for_it(tmp_path, device_clock):
    """A strategy that computes heavily (dnas, BO) is charged process CPU time like training; others wall
    time: an ask that sleeps 0.3 s costs ~0 CPU seconds."""
    from strategies.random_search import RandomSearch

    class Sleeper(RandomSearch):
        name = f"sleeper-{device_clock}"

        def ask(self, n):
            time.sleep(0.3)
            return super().ask(n)

    Sleeper.device_clock = device_clock
    pb, e = digits_problem(OBJS)
    with Store(tmp_path / "s.sqlite") as s:
        res = run_search(s, pb, e, Sleeper, {}, 0, Budget(evaluations=2))
    shares = [ev.strategy_s for ev in res.evaluations]
    assert len(shares) == 2
    if device_clock:
        assert all(x < 0.1 for x in shares)
    else:
        assert all(x >= 0.3 for x in shares)
    assert all(ev.cost_s == pytest.approx(ev.work_s + ev.strategy_s) for ev in res.evaluations)


def _run_twice(tmp_path, strategy):
    """The same NB201 table search run twice on one store (budget 10): the store and both results."""
    from moo_nas.strategy import Problem
    from moo_nas.tabular import make_table_evaluator

    objs = (make_objective("val_error"), make_objective("params"))
    space, ev = make_table_evaluator("nb201", {}, objs)
    store = Store(tmp_path / "s.db")
    first = run_search(store, Problem(space, objs), ev, strategy, {}, 0, Budget(evaluations=10))
    events = len(store.events(first.run_id))
    again = run_search(store, Problem(space, objs), ev, strategy, {}, 0, Budget(evaluations=10))
    assert again.run_id == first.run_id and len(store.events(first.run_id)) == events  # nothing added
    return store, first, again


def _counting_strategy(name, pick, finished=lambda asks: False):
    """A strategy proposing ``space.all_genotypes()[pick(asks)]`` at its ``asks``-th ask,
    counting its asks on the class (a replay would ask again)."""
    from moo_nas.strategy import Strategy

    class Counting(Strategy):
        description = "test strategy"
        asks = 0

        def ask(self, n):
            Counting.asks += 1
            return [self.space.all_genotypes()[pick(Counting.asks)]]

        def tell(self, observations):
            pass

        def finished(self):
            return finished(Counting.asks)

    Counting.name = name
    return Counting


def test_a_run_stopped_for_proposing_nothing_new_is_finished_and_not_resumed(tmp_path):
    """A strategy that only repeats itself is stopped after MAX_STALE_ASKS asks with the
    reason recorded; running the same search again reads the run instead of replaying every
    ask (which would stall the same way) and adds nothing to the store."""
    from moo_nas.engine import MAX_STALE_ASKS

    stuck = _counting_strategy("stuck", lambda asks: asks % 2)  # two genotypes over and over
    store, first, again = _run_twice(tmp_path, stuck)
    run = store.run(first.run_id)
    assert run.status == "finished" and "asks in a row" in run.stats["stopped"]
    assert len({e.genotype_key for e in first.evaluations}) == 2
    assert stuck.asks == 2 + MAX_STALE_ASKS  # two new ones, then only repeats; none replayed


def test_a_run_its_strategy_declared_finished_is_not_resumed(tmp_path):
    """A strategy that says it is finished before the budget ends (a sweep of fixed points)
    stops the run with that reason; the same command then reads the run."""
    three = _counting_strategy("three-points", lambda asks: asks, finished=lambda asks: asks >= 3)
    store, first, again = _run_twice(tmp_path, three)
    assert store.run(first.run_id).stats["stopped"] == "the strategy finished"
    assert len(first.evaluations) == 3 and three.asks == 3 and len(again.evaluations) == 3
