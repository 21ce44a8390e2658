"""Statistics for strategy comparisons: golden values against scipy and hand computations."""

import numpy as np
import pytest
from scipy import stats

from moo_nas import statistics as S


def test_summarize_matches_numpy_and_scipy():
    x = [0.61, 0.72, 0.55, 0.80, 0.69, 0.71, 0.58]
    s = S.summarize({"a": x})["a"]
    assert s.n == 7 and s.mean == pytest.approx(np.mean(x))
    assert s.std == pytest.approx(stats.tstd(x))
    assert s.median == pytest.approx(0.69)
    assert s.iqr == pytest.approx(stats.iqr(x))


def test_holm_golden():
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, 2*0.03, max(0.06, 1*0.04)
    adj = S.holm([0.01, 0.04, 0.03, 0.005])
    assert adj == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert S.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_mann_whitney_golden_and_holm_over_pairs():
    a = [1.0, 2.0, 3.0, 4.0, 5.0]
    b = [6.0, 7.0, 8.0, 9.0, 10.0]
    c = [1.5, 2.5, 6.5, 7.5, 9.5]
    tests = {(t.a, t.b): t for t in S.pairwise_tests({"a": a, "b": b, "c": c}, higher_is_better=True)}
    ab = tests[("a", "b")]
    assert ab.u == 0.0 and ab.p == pytest.approx(2 / 252)  # exact: 2 of C(10,5) orderings
    assert ab.a12 == 0.0 and ab.better == "b"
    for (x, y), t in tests.items():
        ref = stats.mannwhitneyu({"a": a, "b": b, "c": c}[x], {"a": a, "b": b, "c": c}[y],
                                 alternative="two-sided")
        assert t.p == pytest.approx(ref.pvalue) and t.u == pytest.approx(ref.statistic)
    assert [t.p_holm for t in tests.values()] == pytest.approx(S.holm([t.p for t in tests.values()]))
    assert ab.significant and not tests[("a", "c")].significant


def test_lower_is_better_and_unreached_targets():
    fast = [1.0, 2.0, 1.5, 1.2, 1.8, 1.1]
    never = [np.inf] * 6
    (t,) = S.pairwise_tests({"fast": fast, "slow": never}, higher_is_better=False)
    assert t.better == "fast" and t.significant
    (t2,) = S.pairwise_tests({"x": never, "y": never}, higher_is_better=False)
    assert t2.p == 1.0 and not t2.significant and t2.better == ""


def test_curve_on_grid_steps_and_keeps_input():
    cost = np.array([1.0, 2.0, 4.0])
    hv = np.array([0.2, 0.1, 0.5])
    c0, h0 = cost.copy(), hv.copy()
    v = S.curve_on_grid(cost, hv, [0.5, 1.0, 3.0, 4.0, 9.0])
    assert v == pytest.approx([0.0, 0.2, 0.2, 0.5, 0.5])
    assert np.array_equal(cost, c0) and np.array_equal(hv, h0)
    with pytest.raises(ValueError):
        S.curve_on_grid([2.0, 1.0], [0.1, 0.2], [1.0])


def test_time_to_target():
    cost, hv = [1.0, 3.0, 7.0], [0.5, 0.95, 0.99]
    assert S.time_to_target(cost, hv, 0.95) == 3.0
    assert S.time_to_target(cost, hv, 0.991) == np.inf
    t = S.times_to_target({"s": [(cost, hv), ([2.0], [1.0])]}, 1.0, (0.95, 0.99))
    assert t[0.95]["s"] == pytest.approx([3.0, 2.0]) and t[0.99]["s"] == pytest.approx([7.0, 2.0])


def test_bootstrap_band_agrees_with_scipy():
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 0.3, size=12)
    lo, hi = S.bootstrap_band(x[:, None], level=0.9, n_boot=20000, seed=1)
    ref = stats.bootstrap((x,), np.mean, confidence_level=0.9, n_resamples=20000,
                          method="percentile", random_state=2).confidence_interval
    assert lo[0] == pytest.approx(ref.low, abs=0.01) and hi[0] == pytest.approx(ref.high, abs=0.01)
    assert lo[0] < x.mean() < hi[0]


def _curves(offset, n=10, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        cost = np.cumsum(rng.uniform(0.5, 1.5, size=40)) + offset * rng.uniform(0.8, 1.2)
        hv = 1.0 - np.exp(-np.arange(1, 41) / 8.0)
        out.append((cost, hv))
    return out


def test_bands_and_markdown_verdict(tmp_path):
    curves = {"quick": _curves(0.0, seed=1), "late": _curves(30.0, seed=2)}
    bands = S.hv_cost_bands(curves, n_boot=500)
    for b in bands.values():
        assert np.all(b.lo <= b.mean + 1e-12) and np.all(b.mean <= b.hi + 1e-12)
        assert b.grid.shape == b.mean.shape and b.n == 10
    assert np.all(bands["quick"].mean >= bands["late"].mean)
    final = {k: [h[-1] for _, h in v] for k, v in curves.items()}
    ref = 1.0 - np.exp(-40 / 8.0) + 0.001
    md = S.markdown_section(final, curves, ref, cost_unit="GPU-hours")
    # both reach 99 % of ref (0.9843) at the 34th point, quick earlier on every seed
    assert "Lowest median cost to 99 %: **quick**" in md
    assert "Lowest median cost to 95 %: **quick**" in md
    assert "Significantly lower than late" in md
    png = S.plot_bands(bands, tmp_path / "bands.png", reference_hv=ref)
    assert png.stat().st_size > 1000
    # a reference 10 % above every final HV is reached by no seed at 99 %
    md_far = S.markdown_section(final, curves, 1.1 * ref, cost_unit="GPU-hours")
    assert "No strategy reached 99 % in at least half of its seeds." in md_far
    assert "| quick | 0/10 | never |" in md_far
