"""Statistics of an experiment run against a table, relative to the table's true front.

On a table every architecture is known, so the *true* Pareto front (all recorded rows, see
:meth:`~moo_nas.tabular.table.Table.points`) is the reference: objectives are normalised
between its ideal and nadir (:class:`moo_nas.comparator.Normalisation`, reference point 1.1),
each run's hypervolume-vs-cost curve is computed with :func:`moo_nas.comparator.hv_curve`,
and :mod:`moo_nas.statistics` summarises them (time to 95 / 99 % of the true front's
hypervolume, Mann-Whitney U with Holm correction, bootstrap bands).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import statistics as S
from ..comparator import REF, Normalisation, feasible_points, hv_curve, nondominated
from ..objectives import Objective
from ..store import Store, StoredRun
from .table import Table


@dataclass
class TrueFrontAnalysis:
    """Curves and final hypervolumes of the runs, normalised on the true front."""

    objectives: tuple[Objective, ...]
    front: np.ndarray
    normalisation: Normalisation
    reference_hv: float
    curves: dict[str, list[tuple[np.ndarray, np.ndarray]]]
    final_hv: dict[str, list[float]]
    strategy_share: float  # largest fraction of a run's cost that was strategy (CPU) time


def analyse(store: Store, runs: Sequence[StoredRun], table: Table,
            objectives: Sequence[Objective], ref: float = REF) -> TrueFrontAnalysis:
    """Hypervolume curves (cost in hours) of ``runs`` relative to the true front of ``table``."""
    objectives = tuple(objectives)
    pts = table.points(objectives)
    front = pts[nondominated(pts)]
    norm = Normalisation(front.min(axis=0), front.max(axis=0), ref)
    ref_hv = norm.hypervolume(front)
    curves: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    final: dict[str, list[float]] = {}
    share = 0.0
    for r in runs:
        evals = store.evaluations(r.id)
        cost, hv = hv_curve(evals, objectives, norm)
        curves.setdefault(r.strategy, []).append((cost, hv))
        found, _ = feasible_points(evals, objectives)
        final.setdefault(r.strategy, []).append(norm.hypervolume(found[nondominated(found)])
                                                if len(found) else 0.0)
        total = sum(e.cost_s for e in evals)
        if total > 0:
            share = max(share, sum(e.strategy_s for e in evals) / total)
    return TrueFrontAnalysis(objectives, front, norm, ref_hv, curves, final, share)


def write_statistics(a: TrueFrontAnalysis, folder: str | Path, table: Table,
                     cost_unit: str = "GPU-hours") -> Path:
    """Write ``statistics.md`` and ``hv_bands.png`` into ``folder``; returns the Markdown path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    grid = S.cost_grid([c for cs in a.curves.values() for c in cs], n=300, upto="longest")
    bands = S.hv_cost_bands(a.curves, grid)
    S.plot_bands(bands, folder / "hv_bands.png", reference_hv=a.reference_hv,
                 xlabel=f"cumulative search cost ({cost_unit})",
                 ylabel="hypervolume (normalised on the true front)")
    head = [
        f"# True-front statistics: {table.info.name}", "",
        f"Reference: the true Pareto front of the table ({len(a.front)} non-dominated of "
        f"{table.n_rows()} recorded rows = {len(table)} architectures x their seeds), objectives "
        + ", ".join(f"`{o.describe()}`" for o in a.objectives) + ". Each objective (minimisation "
        "form) is normalised between the true front's ideal and nadir; hypervolume by moocore "
        f"with the reference point at {a.normalisation.ref} per objective; true-front HV = "
        f"{a.reference_hv:.6g}.", "",
        f"Cost = recorded training time of every evaluated architecture ({table.info.source}) plus "
        f"the strategy's own ask/tell time on this host (at most {100 * a.strategy_share:.3f} % "
        "of a run's cost); repeated proposals cost only strategy time. Curves: mean over seeds "
        "with a 95 % percentile-bootstrap band, on a common grid up to the end of the longest "
        "run; a run keeps its final hypervolume after its budget ends (`hv_bands.png`).", "",
    ]
    body = S.markdown_section(a.final_hv, a.curves, a.reference_hv, cost_unit=cost_unit,
                              title="Comparison against the true front")
    path = folder / "statistics.md"
    path.write_text("\n".join(head) + "\n" + body)
    return path
