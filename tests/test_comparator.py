import numpy as np
import pytest

from moo_nas.comparator import Normalisation, compare, nondominated
from moo_nas.objectives import Value
from moo_nas.report import write_report
from moo_nas.records import Evaluation
from moo_nas.store import Store

OBJS = [{"name": "val_error", "direction": "min", "bound": None, "unit": ""},
        {"name": "model_bytes", "direction": "min", "bound": None, "unit": "B"}]


def _run(store, name, seed, points, cost=3600.0, status="ok"):
    rid, _ = store.get_or_create_run(f"{name}{seed}", "exp", name, {}, seed, {"name": "s"}, {}, {}, OBJS)
    for i, (a, b) in enumerate(points):
        v = {"val_error": Value(a, "measured", "test"), "model_bytes": Value(b, "modelled", "test")}
        store.add_evaluation(Evaluation(run_id=rid, seq=i, genotype_key=f"g{name}{seed}{i}", genotype={"x": i},
                                        arch_key="a", cache_key=f"c{name}{seed}{i}", status=status, values=v,
                                        train_s=cost, cost_s=cost, wall_s=cost, device="cpu:test"))
    return rid


def test_golden_hypervolume_and_igd_plus(tmp_store):
    _run(tmp_store, "A", 0, [(0.0, 1.0), (1.0, 0.0)])
    _run(tmp_store, "B", 0, [(0.5, 0.5), (0.9, 0.9)])
    cmp = compare(tmp_store, tmp_store.runs())
    a, b = cmp.runs
    assert a.hypervolume == pytest.approx(0.21)
    assert b.hypervolume == pytest.approx(0.36)
    # union front (0,1), (0.5,0.5), (1,0): 1.21 - 1 + 0.25 = 0.46
    assert a.reference_hv == b.reference_hv == pytest.approx(0.46)
    assert b.hv_fraction == pytest.approx(0.36 / 0.46)
    assert len(b.front) == 1  # (0.9, 0.9) is dominated
    # IGD+ (dominance-aware distance from each union point to the run's front, averaged):
    # A misses (0.5, 0.5) by 0.5; B misses (0, 1) and (1, 0) by 0.5 each
    assert a.igd_plus == pytest.approx(0.5 / 3)
    assert b.igd_plus == pytest.approx((0.5 + 0.5 + 0.0) / 3)
    np.testing.assert_allclose(cmp.normalisation.ideal, [0, 0])
    np.testing.assert_allclose(cmp.normalisation.nadir, [1, 1])
    assert a.curve_hv[-1] == pytest.approx(a.hypervolume)
    assert a.curve_cost_hours[-1] == pytest.approx(2.0)
    assert np.all(np.diff(a.curve_hv) >= 0)


def test_run_references_score_each_run_against_its_own_front(tmp_store):
    ra = _run(tmp_store, "A", 0, [(0.5, 0.5)])
    rb = _run(tmp_store, "A", 1, [(0.5, 0.5)])
    refs = {ra: np.array([[0.5, 0.5]]), rb: np.array([[0.0, 1.0], [1.0, 0.0]])}
    cmp = compare(tmp_store, tmp_store.runs(), run_references=refs)
    a, b = cmp.runs
    assert a.hv_fraction == pytest.approx(1.0)
    assert b.hv_fraction == pytest.approx(0.36 / 0.21) and a.reference_hv != b.reference_hv


def test_failed_and_infeasible_points_do_not_count(tmp_store):
    _run(tmp_store, "A", 0, [(0.0, 0.0)], status="failed")
    _run(tmp_store, "B", 0, [(0.5, 0.5)])
    cmp = compare(tmp_store, tmp_store.runs())
    assert cmp.runs[0].hypervolume == 0.0 and len(cmp.runs[0].front) == 0


def test_inputs_not_mutated_and_nondominated():
    pts = np.array([[1.0, 2.0], [2.0, 1.0], [2.0, 2.0]])
    copy = pts.copy()
    assert list(nondominated(pts)) == [True, True, False]
    n = Normalisation(np.zeros(2), np.ones(2) * 2)
    n.hypervolume(pts)
    np.testing.assert_array_equal(pts, copy)


def test_report_files(tmp_store, tmp_path):
    _run(tmp_store, "A", 0, [(0.1, 3.0), (0.3, 1.0)])
    _run(tmp_store, "A", 1, [(0.2, 2.0)])
    _run(tmp_store, "B", 0, [(0.15, 2.5)])
    out = write_report(compare(tmp_store, tmp_store.runs()), tmp_path / "rep", "t")
    text = (out / "README.md").read_text()
    assert "| A | 2 |" in text and "reference point at 1.1" in text
    assert "it can reach up to 1.1^2 = 1.21" in text and "**HV / ref**" in text
    for f in ("fronts.csv", "fronts.png", "hv_vs_cost.png"):
        assert (out / f).stat().st_size > 100
    rows = (out / "fronts.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 4
