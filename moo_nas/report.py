"""Reports of a comparison: a Markdown summary, the final fronts as CSV and two PNG plots.

Files written to the report folder:

``README.md``        hypervolume as a fraction of the reference front's (HV / ref), raw
                     hypervolume and IGD+ per strategy (mean ± std over seeds), per-run table,
                     normalisation and reference point, where every metric came from;
``fronts.csv``       the final Pareto front of every run, genotype and metrics;
``fronts.png``       the fronts projected on (first objective, each other objective);
``hv_vs_cost.png``   hypervolume against cumulative search cost, mean and min–max over seeds;
``hardware_fronts.png`` accuracy against every recorded latency / energy metric (when several);
``hv_bands.png``     mean hypervolume against cost per strategy with a 95 % bootstrap band.

The README's statistics section (:mod:`moo_nas.statistics`) gives, per strategy, the final
hypervolume over seeds (mean, std, median, IQR) relative to the reference front, the cost to
reach 95 / 99 % of its hypervolume, and Holm-corrected pairwise Mann-Whitney U tests.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import statistics as S
from .comparator import Comparison, RunSummary
from .plots import save_figure

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _mean_std(xs: Sequence[float]) -> str:
    xs = [x for x in xs if np.isfinite(x)]
    if not xs:
        return "n/a"
    return f"{np.mean(xs):.4f} ± {np.std(xs, ddof=1) if len(xs) > 1 else 0.0:.4f}"


def _fmt(v: float) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _provenance(cmp: Comparison) -> list[str]:
    lines = []
    names = [o.name for o in cmp.objectives] + ["test_accuracy"] + [
        m for m in HARDWARE_METRICS if m not in [o.name for o in cmp.objectives]]
    for name in names:
        for r in cmp.runs:
            e = next((e for e in r.evaluations if name in e.values), None)
            if e is not None:
                v = e.values[name]
                lines.append(f"- `{name}`: {v.origin} — {v.source}")
                break
    return lines


def made_with() -> str:
    """``commit abc1234`` of the checkout this code runs from (``uncommitted changes`` marked),
    or the package version when it is not a git checkout."""
    import subprocess

    from . import __version__

    root = Path(__file__).resolve().parents[1]
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)reports"],  # the report being written is not code
                               cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev, dirty = "", ""
    if not rev:
        return f"moo_nas {__version__}"
    return f"commit {rev}" + (" with uncommitted changes" if dirty else "")


def write_fronts_csv(cmp: Comparison, path: Path) -> None:
    gnames = sorted({k for r in cmp.runs for e in r.front_evals for k in e.genotype})
    metric_names = sorted({k for r in cmp.runs for e in r.front_evals for k in e.values if k != "traceback"})
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["strategy", "seed", "run_id", "seq", *metric_names, "cost_s", *gnames])
        for r in cmp.runs:
            for e in sorted(r.front_evals, key=lambda e: e.seq):
                w.writerow([r.run.strategy, r.run.seed, r.run.id, e.seq,
                            *[e.value(n) for n in metric_names], round(e.cost_s, 4),
                            *[e.genotype.get(g) for g in gnames]])


def _colors(names: Sequence[str]) -> dict[str, Any]:
    cmap = plt.get_cmap("tab10")
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def _panels(n: int) -> tuple[Any, Any]:
    """A figure of ``n`` panels side by side (4.2 x 3.8 inches each) and its row of axes."""
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.8), squeeze=False)
    return fig, axes[0]


def _save_panels(fig: Any, axes: Any, title: str, path: Path) -> None:
    """Finish a figure of :func:`_panels`: the strategies' legend in the first panel, the
    title, then write it to ``path``."""
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    save_figure(fig, path)


def plot_fronts(cmp: Comparison, path: Path) -> None:
    objs = cmp.objectives
    if len(objs) < 2:
        return
    first = objs[0]
    others = objs[1:]
    fig, axes = _panels(len(others))
    colors = _colors(cmp.strategies())
    for ax, o in zip(axes, others):
        for name in cmp.strategies():
            pts = [(e.value(o.name), e.value(first.name)) for r in cmp.by_strategy(name)
                   for e in r.front_evals]
            if pts:
                x, y = zip(*pts)
                ax.scatter(x, y, s=18, alpha=0.75, color=colors[name], label=name)
        ax.set_xlabel(f"{o.name} [{o.unit}]" if o.unit else o.name)
        ax.set_ylabel(first.name)
        xs = [v for r in cmp.runs for e in r.front_evals if (v := e.value(o.name))]
        if xs and min(xs) > 0 and max(xs) / min(xs) > 30:
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
    _save_panels(fig, axes, "Final Pareto fronts of every run (projections)", path)


HARDWARE_METRICS = ("latency_ms", "latency_ort_ms", "gpu_latency_ms", "gpu_energy_mj", "rapl_energy_mj",
                    "mcu_latency_ms", "mcu_energy_mj", "ext_latency_ms", "ext_energy_mj",
                    "cal_latency_ms", "cal_energy_mj")


def plot_hardware_fronts(cmp: Comparison, path: Path) -> bool:
    """TEA-DNN-style view: for accuracy against each latency / energy metric recorded (measured
    on the host, modelled for the MCU, ...), the 2-D Pareto front of all evaluations of each
    strategy.  Returns False when fewer than two such metrics were recorded."""
    from .comparator import nondominated

    acc = "val_accuracy"
    present = [m for m in HARDWARE_METRICS
               if any(m in e.values for r in cmp.runs for e in r.evaluations)]
    if len(present) < 2:
        return False
    fig, axes = _panels(len(present))
    colors = _colors(cmp.strategies())
    for ax, m in zip(axes, present):
        origin = ""
        for name in cmp.strategies():
            pts = []
            for r in cmp.by_strategy(name):
                for e in r.evaluations:
                    if e.status == "ok" and m in e.values and acc in e.values:
                        pts.append((e.values[m].value, -e.values[acc].value))
                        origin = origin or e.values[m].origin
            if not pts:
                continue
            P = np.array(pts)
            F = P[nondominated(P)]
            F = F[np.argsort(F[:, 0])]
            ax.step(F[:, 0], -F[:, 1], where="post", color=colors[name], alpha=0.8)
            ax.scatter(F[:, 0], -F[:, 1], s=14, color=colors[name], label=name)
        ax.set_xlabel(f"{m} ({origin})")
        ax.set_ylabel(acc)
        ax.grid(alpha=0.3)
    _save_panels(fig, axes, "Accuracy vs latency / energy fronts, per hardware backend "
                 "(all evaluations of each strategy)", path)
    return True


def strategy_curves(runs: Sequence[RunSummary], grid: np.ndarray) -> np.ndarray:
    """HV / reference HV of each run, interpolated (step-wise) on a common cost grid:
    shape (runs, grid)."""
    out = []
    for r in runs:
        if len(r.curve_cost_hours) == 0:
            out.append(np.zeros_like(grid))
            continue
        idx = np.searchsorted(r.curve_cost_hours, grid, side="right") - 1
        vals = np.where(idx >= 0, r.curve_fraction[np.clip(idx, 0, None)], 0.0)
        out.append(vals)
    return np.array(out)


def plot_hv_vs_cost(cmp: Comparison, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colors = _colors(cmp.strategies())
    max_cost = max((r.curve_cost_hours[-1] for r in cmp.runs if len(r.curve_cost_hours)), default=1.0)
    grid = np.linspace(0, max_cost, 300)
    for name in cmp.strategies():
        runs = cmp.by_strategy(name)
        curves = strategy_curves(runs, grid)
        # stop each strategy's curve at the median cost its runs reached
        end = float(np.median([r.curve_cost_hours[-1] for r in runs if len(r.curve_cost_hours)] or [0]))
        m = grid <= end
        ax.plot(grid[m], curves.mean(axis=0)[m], color=colors[name], label=f"{name} (n={len(runs)})")
        ax.fill_between(grid[m], curves.min(axis=0)[m], curves.max(axis=0)[m], color=colors[name], alpha=0.15)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xlabel(f"cumulative search cost, {cmp.cost_label}")
    ax.set_ylabel("HV / reference front's HV")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Hypervolume vs search cost (mean, min–max over seeds)")
    save_figure(fig, path)


def markdown(cmp: Comparison, title: str, extra: Sequence[str] = (), stats: Sequence[str] = (),
             header: Sequence[str] = ()) -> str:
    """The README: ``header`` (how to regenerate it), hypervolume per strategy, ``stats`` (see
    :func:`statistics_lines`), the per-run table, counters, how the numbers were computed,
    provenance, then ``extra``."""
    o = cmp.objectives
    lines = [f"# {title}", "", *header, *([""] if header else [])]
    lines.append("Objectives: " + ", ".join(f"`{x.describe()}`" for x in o) + ".")
    lines.append("")
    lines.append("## Hypervolume per strategy")
    lines.append("")
    lines.append(f"Search cost unit: {cmp.cost_label}.")
    lines.append("")
    lines.append(_hv_sentence(cmp))
    lines.append("")
    lines.append("| strategy | runs | HV / ref (mean ± std) | raw HV (mean ± std) | IGD+ (mean ± std) | evaluations / run | feasible / run | search cost / run [h] | of which strategy time / run [s] |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for name in cmp.strategies():
        rs = cmp.by_strategy(name)
        lines.append(
            f"| {name} | {len(rs)} | {_mean_std([r.hv_fraction for r in rs])} | "
            f"{_mean_std([r.hypervolume for r in rs])} | "
            f"{_mean_std([r.igd_plus for r in rs])} | {np.mean([len(r.evaluations) for r in rs]):.1f} | "
            f"{np.mean([r.n_feasible for r in rs]):.1f} | {np.mean([r.cost_hours for r in rs]):.4f} | "
            f"{np.mean([sum(e.strategy_s for e in r.evaluations) for r in rs]):.1f} |")
    lines.append("")
    lines.append("Strategy time: wall seconds of the strategy's ask and tell on this host (model fits, "
                 "acquisition optimisation), charged in the search cost with the evaluations.")
    lines += list(stats)
    lines.append("")
    lines.append("## Runs")
    lines.append("")
    lines.append("| run | strategy | seed | HV / ref | raw HV | IGD+ | front size | evaluations | cached | cost [h] | best " + o[0].name + " |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in cmp.runs:
        best = [v for e in r.front_evals if (v := e.value(o[0].name)) is not None]
        b = (max(best) if o[0].direction == "max" else min(best)) if best else float("nan")
        lines.append(f"| {r.run.id} | {r.run.strategy} | {r.run.seed} | {r.hv_fraction:.4f} | "
                     f"{r.hypervolume:.4f} | {r.igd_plus:.4f} | "
                     f"{len(r.front)} | {len(r.evaluations)} | {sum(e.cached for e in r.evaluations)} | "
                     f"{r.cost_hours:.4f} | {b:.4f} |")
    stats_lines = [f"- {r.run.strategy} seed {r.run.seed}: " + ", ".join(f"{k} = {_fmt(v)}" for k, v in r.run.stats.items())
                   for r in cmp.runs if r.run.stats]
    if stats_lines:
        lines += ["", "## Strategy counters", ""] + stats_lines
    n = cmp.normalisation
    lines += ["", "## How the numbers were computed", ""]
    lines.append("Each objective in minimisation form (maximised ones negated) is normalised between the ideal "
                 f"and the nadir of the reference front ({cmp.reference_label}); hypervolume by moocore with "
                 f"the reference point at {n.ref} in every normalised objective; IGD+ against that front "
                 f"({len(cmp.union_front)} points) in normalised space. Search cost = training + measurement + "
                 "strategy time per evaluation (cached results are charged their original cost).")
    lines.append("")
    lines.append("| objective | ideal | nadir |")
    lines.append("|---|---|---|")
    for x, lo, hi in zip(o, n.ideal, n.nadir):
        lines.append(f"| {x.name} (min form) | {lo:.6g} | {hi:.6g} |")
    lines += ["", "Provenance of the reported metrics:", ""] + _provenance(cmp)
    lines += list(extra)
    return "\n".join(lines) + "\n"


def _hv_sentence(cmp: Comparison) -> str:
    refs = cmp.reference_hvs()
    ref_text = (f"{refs[0]:.6g}" if len(refs) == 1
                else f"{min(refs):.6g} … {max(refs):.6g}, one per run")
    d = len(cmp.objectives)
    return (f"**HV / ref** is a run's hypervolume divided by its reference front's ({cmp.reference_label}); "
            f"1 means the run found a front as good as the reference. **Raw HV** is measured after "
            f"normalising each objective to [0, 1] with the reference point at {cmp.normalisation.ref} "
            f"in each, so with d = {d} objectives it can reach up to {cmp.normalisation.ref}^{d} = "
            f"{cmp.max_raw_hv:.4g}; the reference front's raw HV is {ref_text}.")


def statistics_lines(cmp: Comparison, folder: Path,
                     fractions: Sequence[float] = (0.95, 0.99)) -> list[str]:
    """The statistics section over seeds (and ``hv_bands.png``): every run's hypervolume as a
    fraction of its reference front's (the table's true front when one was given, one per seed
    for per-seed lookups, else the union of the runs' fronts)."""
    runs = {name: [r for r in cmp.by_strategy(name) if len(r.curve_cost_hours)]
            for name in cmp.strategies()}
    runs = {k: v for k, v in runs.items() if v}
    if not runs or not len(cmp.union_front) or not all(r.reference_hv > 0 for r in cmp.runs):
        return []
    curves = {k: [(r.curve_cost_hours, r.curve_fraction) for r in v] for k, v in runs.items()}
    final = {k: [r.hv_fraction for r in cmp.by_strategy(k)] for k in runs}
    unit = cmp.cost_label.split(" (")[0]
    grid = S.cost_grid([c for cs in curves.values() for c in cs], n=300, upto="longest")
    S.plot_bands(S.hv_cost_bands(curves, grid), folder / "hv_bands.png", reference_hv=1.0,
                 xlabel=f"cumulative search cost ({unit})", ylabel="HV / reference front's HV")
    refs = cmp.reference_hvs()
    ref_text = (f"raw HV = {refs[0]:.6g}" if len(refs) == 1
                else f"one per run, raw HV {min(refs):.6g} … {max(refs):.6g}")
    intro = (f"Reference front: {cmp.reference_label} ({len(cmp.union_front)} points in the union, "
             f"{ref_text}). Time to target = cumulative search cost at which a run's front first "
             "reaches the given fraction of its reference hypervolume; curves with 95 % "
             "bootstrap bands of the mean over seeds: `hv_bands.png`.")
    title, blank, *rest = S.markdown_section(final, curves, 1.0, cost_unit=unit,
                                             fractions=fractions, title="Statistics over seeds",
                                             reference_note="fractions of each run's reference "
                                                            "hypervolume").splitlines()
    return ["", title, blank, intro, ""] + rest


def write_report(cmp: Comparison, folder: str | Path, title: str, extra: Sequence[str] = (),
                 fractions: Sequence[float] = (0.95, 0.99), header: Sequence[str] = ()) -> Path:
    """Write README.md, fronts.csv, fronts.png and hv_vs_cost.png into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_fronts_csv(cmp, folder / "fronts.csv")
    plot_fronts(cmp, folder / "fronts.png")
    plot_hv_vs_cost(cmp, folder / "hv_vs_cost.png")
    extra = list(extra)
    if plot_hardware_fronts(cmp, folder / "hardware_fronts.png"):
        extra += ["", "## Hardware backends side by side", "",
                  "![accuracy vs latency/energy per backend](hardware_fronts.png)", "",
                  "Each panel is the accuracy front of all evaluations against one latency or energy "
                  "metric; the axis label says whether it was measured or modelled (see provenance above)."]
    (folder / "README.md").write_text(markdown(cmp, title, extra, statistics_lines(cmp, folder, fractions),
                                               header))
    return folder
