"""Statistics for comparing search strategies over seeds.

Inputs are plain arrays: per strategy, one final hypervolume per seed and one (cost, HV) curve
per seed (cost cumulative and non-decreasing, HV of the front found so far; the comparator
computes HV).  Nothing here knows about runs or stores.

* :func:`summarize` – mean, std, median, IQR of a sample per strategy;
* :func:`curve_on_grid`, :func:`cost_grid`, :func:`bootstrap_band`, :func:`hv_cost_bands` –
  HV-vs-cost curves on a common cost grid with percentile-bootstrap confidence bands of the
  mean over seeds;
* :func:`time_to_target`, :func:`times_to_target` – cost to reach a fraction (95 %, 99 %) of a
  reference hypervolume; ``inf`` when a run never reaches it;
* :func:`holm`, :func:`pairwise_tests` – two-sided Mann-Whitney U for every pair of
  strategies, Holm step-down correction of the family of pairs;
* :func:`markdown_section` and :func:`plot_bands` – what the report shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Mapping, Sequence, Union

import numpy as np
from scipy.stats import mannwhitneyu

#: a sequence of numbers: a list or a 1-D numpy array
Floats = Union[Sequence[float], np.ndarray]
Curve = tuple[Floats, Floats]


@dataclass(frozen=True)
class Summary:
    """Location and spread of one strategy's sample (``std`` with ddof = 1; quartiles by
    linear interpolation, numpy's default)."""

    n: int
    mean: float
    std: float
    median: float
    q1: float
    q3: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


def summarize(samples: Mapping[str, Floats]) -> dict[str, Summary]:
    """Summary per strategy of e.g. final hypervolume over seeds."""
    out = {}
    for name, xs in samples.items():
        x = np.asarray(xs, dtype=float)
        if x.size == 0:
            raise ValueError(f"no values for {name!r}")
        q1, med, q3 = np.percentile(x, [25, 50, 75])
        std = float(np.std(x, ddof=1)) if x.size > 1 else 0.0
        out[name] = Summary(int(x.size), float(np.mean(x)), std, float(med), float(q1), float(q3))
    return out


# ---------------------------------------------------------------------------- curves
def curve_on_grid(cost: Floats, hv: Floats, grid: Floats) -> np.ndarray:
    """HV of the front found by each grid cost: the best HV among points with cost <= grid
    value (a step function; 0 before the first point — an empty front has no volume)."""
    c = np.asarray(cost, dtype=float)
    h = np.maximum.accumulate(np.asarray(hv, dtype=float)) if len(hv) else np.zeros(0)
    if c.shape != h.shape:
        raise ValueError("cost and hv must have the same length")
    if np.any(np.diff(c) < 0):
        raise ValueError("cost must be non-decreasing")
    idx = np.searchsorted(c, np.asarray(grid, dtype=float), side="right") - 1
    return np.where(idx >= 0, h[np.clip(idx, 0, None)] if h.size else 0.0, 0.0)


def cost_grid(curves: Sequence[Curve], n: int = 200, log: bool = True,
              upto: str = "shortest") -> np.ndarray:
    """A common cost grid for curves: from the smallest first cost to the end of the shortest
    run (``upto="shortest"``, so every seed is observed over the whole grid) or of the longest
    (``"longest"``; runs then hold their final HV).  Log-spaced by default."""
    firsts = [float(np.asarray(c, dtype=float)[0]) for c, _ in curves if len(c)]
    lasts = [float(np.asarray(c, dtype=float)[-1]) for c, _ in curves if len(c)]
    if not firsts:
        raise ValueError("no non-empty curves")
    lo = min(firsts)
    hi = min(lasts) if upto == "shortest" else max(lasts)
    hi = max(hi, lo)
    if log and lo > 0:
        return np.geomspace(lo, hi, n) if hi > lo else np.full(1, lo)
    return np.linspace(lo, hi, n) if hi > lo else np.full(1, lo)


@dataclass(frozen=True)
class Band:
    """Mean over seeds of a curve on a grid, with a bootstrap confidence band and median."""

    grid: np.ndarray
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    median: np.ndarray
    n: int
    level: float


def bootstrap_band(values: np.ndarray, level: float = 0.95, n_boot: int = 2000,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile-bootstrap confidence interval of the mean over rows, per column.

    ``values`` is (seeds x points); seeds are resampled with replacement ``n_boot`` times
    (the same resample for every column, so a band is a band of curves).  Returns (lo, hi).
    """
    v = np.asarray(values, dtype=float)
    if v.ndim == 1:
        v = v[:, None]
    n = v.shape[0]
    if n == 1:
        return v[0].copy(), v[0].copy()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    means = v[idx].mean(axis=1)  # (n_boot, points)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha], axis=0)
    return lo, hi


def hv_cost_bands(curves: Mapping[str, Sequence[Curve]], grid: np.ndarray | None = None,
                  level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> dict[str, Band]:
    """Per strategy, HV-vs-cost curves of its seeds on one common grid (all strategies share
    it; default :func:`cost_grid` over every curve) with bootstrap bands of the mean."""
    if grid is None:
        grid = cost_grid([c for cs in curves.values() for c in cs])
    out = {}
    for name, cs in curves.items():
        m = np.array([curve_on_grid(c, h, grid) for c, h in cs])
        lo, hi = bootstrap_band(m, level, n_boot, seed)
        out[name] = Band(np.asarray(grid), m.mean(axis=0), lo, hi, np.median(m, axis=0),
                         len(cs), level)
    return out


# ---------------------------------------------------------------------------- time to target
def time_to_target(cost: Floats, hv: Floats, target: float) -> float:
    """Cost at which the curve first reaches ``hv >= target``; ``inf`` if it never does."""
    h = np.asarray(hv, dtype=float)
    hit = np.flatnonzero(h >= target)
    return float(np.asarray(cost, dtype=float)[hit[0]]) if hit.size else float("inf")


def times_to_target(curves: Mapping[str, Sequence[Curve]], reference_hv: float,
                    fractions: Sequence[float] = (0.95, 0.99)) -> dict[float, dict[str, np.ndarray]]:
    """fraction -> strategy -> cost per seed to reach ``fraction * reference_hv``."""
    return {f: {name: np.array([time_to_target(c, h, f * reference_hv) for c, h in cs])
                for name, cs in curves.items()}
            for f in fractions}


# ---------------------------------------------------------------------------- tests
def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979), in the input order.

    Sorted ascending, ``p_(i)`` becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``; rejecting
    where the adjusted value is <= alpha controls the family-wise error rate at alpha.
    """
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adj = np.maximum.accumulate(adj)
    out = np.empty(m)
    out[order] = adj
    return out


@dataclass(frozen=True)
class PairTest:
    """Two-sided Mann-Whitney U test of strategies ``a`` and ``b``.

    ``u`` is U of ``a``; ``a12`` = U / (n_a n_b), the probability that a value of ``a``
    exceeds one of ``b`` (ties count half; Vargha-Delaney A); ``better`` names the strategy
    that tends to the better values (A12 above or below 1/2, per ``higher_is_better``; the
    direction the U test looks at) or ``""`` when A12 is exactly 1/2.
    """

    a: str
    b: str
    u: float
    p: float
    p_holm: float
    a12: float
    better: str
    significant: bool


def pairwise_tests(samples: Mapping[str, Floats], higher_is_better: bool = True,
                   alpha: float = 0.05) -> list[PairTest]:
    """Mann-Whitney U (two-sided, scipy's exact/asymptotic choice) for every pair, Holm-corrected
    over all pairs.  ``inf`` values (targets never reached) rank as the worst when lower is
    better."""
    names = list(samples)
    raw = []
    for a, b in combinations(names, 2):
        x, y = np.asarray(samples[a], float), np.asarray(samples[b], float)
        res = mannwhitneyu(x, y, alternative="two-sided")
        u, p = float(res.statistic), float(res.pvalue)
        if np.isnan(p):
            p = 1.0
        a12 = u / (x.size * y.size)
        if a12 == 0.5:
            better = ""
        else:
            better = a if (a12 > 0.5) == higher_is_better else b
        raw.append((a, b, u, p, a12, better))
    adj = holm([r[3] for r in raw]) if raw else np.zeros(0)
    return [PairTest(a, b, u, p, float(q), a12, better, bool(q <= alpha and better != ""))
            for (a, b, u, p, a12, better), q in zip(raw, adj)]


# ---------------------------------------------------------------------------- report
def _fmt(x: float, digits: int = 3) -> str:
    return "never" if np.isinf(x) else f"{x:.{digits}g}"


def markdown_section(final_hv: Mapping[str, Floats], curves: Mapping[str, Sequence[Curve]],
                     reference_hv: float, cost_unit: str = "GPU-hours",
                     fractions: Sequence[float] = (0.95, 0.99), alpha: float = 0.05,
                     title: str = "Statistical comparison", reference_note: str | None = None) -> str:
    """A Markdown section: final-HV summary per strategy, time-to-target per fraction of
    ``reference_hv`` (cost in ``cost_unit``, the unit of the curves' cost arrays; values that are
    already fractions are given with ``reference_hv = 1`` and a ``reference_note``), and the
    pairwise Mann-Whitney U tests (Holm-corrected), ending with a sentence per target saying
    which strategy is fastest and which differences are significant at ``alpha``."""
    lines = [f"## {title}", ""]
    n = {k: len(v) for k, v in final_hv.items()}
    note = reference_note or f"HV = {reference_hv:.6g}"
    lines += [f"Hypervolume relative to the reference front ({note}); "
              f"seeds per strategy: {', '.join(f'{k} {v}' for k, v in n.items())}.", "",
              "| strategy | mean HV / ref | std | median | IQR |", "|---|---|---|---|---|"]
    summ = summarize({k: np.asarray(v, float) / reference_hv for k, v in final_hv.items()})
    for k, s in sorted(summ.items(), key=lambda kv: -kv[1].median):
        lines.append(f"| {k} | {s.mean:.4f} | {s.std:.4f} | {s.median:.4f} | {s.iqr:.4f} |")
    hv_tests = pairwise_tests(final_hv, True, alpha)
    lines += ["", _tests_md(hv_tests, "final hypervolume", alpha), "",
              _hv_verdict({k: s.median for k, s in summ.items()}, hv_tests, alpha), ""]
    ttt = times_to_target(curves, reference_hv, fractions)
    for f, per in ttt.items():
        pct = f"{100 * f:g} %"
        lines += [f"### Cost to reach {pct} of the reference hypervolume ({cost_unit})", "",
                  "| strategy | seeds reaching | median | Q1 | Q3 |", "|---|---|---|---|---|"]
        meds = {}
        for k, t in per.items():
            q1, med, q3 = _quartiles(t)
            meds[k] = med
            lines.append(f"| {k} | {int(np.isfinite(t).sum())}/{t.size} | {_fmt(med)} | "
                         f"{_fmt(q1)} | {_fmt(q3)} |")
        tests = pairwise_tests(per, False, alpha)
        lines += ["", _tests_md(tests, f"cost to {pct}", alpha), "",
                  _verdict(meds, tests, pct, cost_unit, alpha), ""]
    return "\n".join(lines).rstrip() + "\n"


def _quartiles(t: np.ndarray) -> tuple[float, float, float]:
    """Quartiles of times that may be ``inf``: a quartile that interpolates towards an
    unreached run is itself ``inf`` (reported as never)."""
    big = 1e300
    q = np.percentile(np.where(np.isinf(t), big, t), [25, 50, 75])
    return tuple(float("inf") if v >= big * 1e-10 else float(v) for v in q)  # type: ignore[return-value]


def _tests_md(tests: Sequence[PairTest], what: str, alpha: float) -> str:
    if not tests:
        return f"No pairwise tests of {what} (a single strategy)."
    rows = [f"Pairwise two-sided Mann-Whitney U on {what}, Holm-corrected over "
            f"{len(tests)} pairs (significant: adjusted p <= {alpha:g}):", "",
            "| pair | U | p | p (Holm) | A12 | better | significant |", "|---|---|---|---|---|---|---|"]
    for t in tests:
        rows.append(f"| {t.a} vs {t.b} | {t.u:g} | {t.p:.3g} | {t.p_holm:.3g} | {t.a12:.2f} | "
                    f"{t.better or '='} | {'yes' if t.significant else 'no'} |")
    return "\n".join(rows)


def _hv_verdict(medians: Mapping[str, float], tests: Sequence[PairTest], alpha: float) -> str:
    """Which strategy has the highest median final HV / ref, and against whom the difference
    is significant."""
    if not medians:
        return ""
    best = max(medians, key=lambda k: medians[k])
    beats = sorted((t.b if t.a == best else t.a) for t in tests
                   if best in (t.a, t.b) and t.significant and t.better == best)
    others = sorted(set(medians) - {best} - set(beats))
    text = f"Highest median final HV / ref: **{best}** ({medians[best]:.4f}). "
    if beats:
        text += f"Significantly higher than {', '.join(beats)} (Holm-adjusted p <= {alpha:g}). "
    if others:
        text += (f"Not significantly different from {', '.join(others)}"
                 + (" (with these seeds no difference is significant)." if not beats else "."))
    return text.strip()


def _verdict(medians: Mapping[str, float], tests: Sequence[PairTest], pct: str, unit: str,
             alpha: float) -> str:
    finite = {k: v for k, v in medians.items() if np.isfinite(v)}
    if not finite:
        return f"No strategy reached {pct} in at least half of its seeds."
    best = min(finite, key=lambda k: finite[k])
    beats: list[str] = []
    ties: list[str] = []
    for t in tests:
        if best not in (t.a, t.b):
            continue
        other = t.b if t.a == best else t.a
        (beats if t.significant and t.better == best else ties).append(other)
    text = (f"Lowest median cost to {pct}: **{best}** ({_fmt(finite[best])} {unit}). ")
    if beats:
        text += f"Significantly lower than {', '.join(sorted(beats))} (Holm-adjusted p <= {alpha:g}). "
    if ties:
        text += f"Not significantly different from {', '.join(sorted(ties))}."
    return text.strip()


def plot_bands(bands: Mapping[str, Band], path: str | Path, reference_hv: float | None = None,
               xlabel: str = "search cost (GPU-hours)", ylabel: str = "hypervolume",
               log_x: bool = True, title: str | None = None) -> Path:
    """Plot mean HV-vs-cost per strategy with its confidence band (and the reference HV with
    its 95 / 99 % levels when given) to ``path`` (format from the suffix)."""
    from .plots import pyplot, save_figure

    fig, ax = pyplot().subplots(figsize=(7, 4.5))
    for name, b in bands.items():
        line, = ax.step(b.grid, b.mean, where="post", label=f"{name} (n={b.n})")
        ax.fill_between(b.grid, b.lo, b.hi, step="post", alpha=0.2, color=line.get_color())
    if reference_hv is not None:
        for f, style in ((1.0, "-"), (0.99, "--"), (0.95, ":")):
            ax.axhline(f * reference_hv, color="grey", linestyle=style, linewidth=0.8)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    level = next(iter(bands.values())).level if bands else 0.95
    ax.set_title(title or f"mean hypervolume vs cost, {100 * level:g} % bootstrap band")
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=120)
