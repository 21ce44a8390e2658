"""Comparing runs: Pareto fronts, hypervolume, IGD+ and hypervolume-vs-search-cost curves.

Normalisation (as HW-NAS-Bench / EvoXBench do): every objective, in minimisation form, is
scaled to [0, 1] between the *ideal* (component-wise minimum) and the *nadir* (component-wise
maximum) of the union front — the non-dominated feasible points of all compared runs.  The
hypervolume reference point is ``ref`` (default 1.1 in every normalised objective, i.e. 10 %
beyond the nadir, so the union front's extreme points still count); it is reported with the
results.  Hypervolume is computed exactly by moocore (2-D/3-D in O(n log n), 4-D HV4D+,
recursive beyond).  IGD+ is measured against the union front in normalised space.

Each run is scored against a *reference front*: by default the union front; for a tabular
benchmark the table's true front (``reference``), or one front per run (``run_references``,
e.g. the front of the rows a run with that seed sees).  ``RunSummary.hv_fraction`` = the run's
hypervolume / its reference front's is what reports lead with: raw hypervolume with reference
point 1.1 can reach 1.1^d for d objectives, so it means nothing without the reference's.

Only evaluations with status ``ok`` that satisfy every bound count towards a front.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import moocore
import numpy as np

from .objectives import Objective
from .records import Evaluation
from .store import Store, StoredRun

REF = 1.1


def objectives_of(run: StoredRun) -> tuple[Objective, ...]:
    return tuple(Objective(o["name"], o["direction"], o.get("bound"), o.get("unit", ""))
                 for o in run.objectives)


def feasible_points(evals: Sequence[Evaluation], objectives: Sequence[Objective]
                    ) -> tuple[np.ndarray, list[Evaluation]]:
    """Minimisation-form matrix of the feasible ok evaluations (and those evaluations)."""
    rows, kept = [], []
    for e in evals:
        if e.status != "ok" or any(o.name not in e.values for o in objectives):
            continue
        vals = [e.values[o.name].value for o in objectives]
        if any(o.violation(v) > 0 for o, v in zip(objectives, vals)):
            continue
        if not all(np.isfinite(vals)):
            continue
        rows.append([o.to_min(v) for o, v in zip(objectives, vals)])
        kept.append(e)
    return np.array(rows, dtype=float).reshape(len(rows), len(objectives)), kept


def nondominated(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows (minimisation; duplicates kept once)."""
    if len(points) == 0:
        return np.zeros(0, dtype=bool)
    return moocore.is_nondominated(np.array(points, copy=True), keep_weakly=False)


@dataclass
class Normalisation:
    """Ideal / nadir of the union front and the reference point in normalised space."""

    ideal: np.ndarray
    nadir: np.ndarray
    ref: float = REF

    def apply(self, points: np.ndarray) -> np.ndarray:
        span = np.where(self.nadir > self.ideal, self.nadir - self.ideal, 1.0)
        return (points - self.ideal) / span

    def hypervolume(self, points: np.ndarray) -> float:
        """Hypervolume of raw minimisation-form points after normalisation."""
        if len(points) == 0:
            return 0.0
        z = self.apply(np.asarray(points, dtype=float))
        z = z[np.all(z < self.ref, axis=1)]
        if len(z) == 0:
            return 0.0
        return float(moocore.hypervolume(z, ref=np.full(z.shape[1], self.ref)))


@dataclass
class RunSummary:
    """One run's final front and its indicator values."""

    run: StoredRun
    evaluations: list[Evaluation]
    front: np.ndarray
    front_evals: list[Evaluation]
    hypervolume: float = 0.0
    igd_plus: float = float("nan")
    curve_cost_hours: np.ndarray = field(default_factory=lambda: np.zeros(0))
    curve_hv: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: the run's clock (hours its executor's workers ran; simulated for table lookups) at
    #: each point of the curve
    curve_clock_hours: np.ndarray = field(default_factory=lambda: np.zeros(0))
    reference_hv: float = float("nan")

    @property
    def hv_fraction(self) -> float:
        """Final hypervolume as a fraction of the run's reference front's hypervolume."""
        return self.hypervolume / self.reference_hv if self.reference_hv > 0 else float("nan")

    @property
    def curve_fraction(self) -> np.ndarray:
        """The HV-vs-cost curve as fractions of the reference hypervolume."""
        return self.curve_hv / self.reference_hv if self.reference_hv > 0 else self.curve_hv * np.nan

    @property
    def cost_hours(self) -> float:
        return float(sum(e.cost_s for e in self.evaluations)) / 3600.0

    @property
    def n_feasible(self) -> int:
        return len(feasible_points(self.evaluations, objectives_of(self.run))[0])


@dataclass
class Comparison:
    """Everything a report needs about a set of compared runs."""

    objectives: tuple[Objective, ...]
    runs: list[RunSummary]
    normalisation: Normalisation
    union_front: np.ndarray
    cost_label: str
    reference_label: str = "best known front: the union of all compared runs' fronts"

    def strategies(self) -> list[str]:
        return list(dict.fromkeys(r.run.strategy for r in self.runs))

    def by_strategy(self, name: str) -> list[RunSummary]:
        return [r for r in self.runs if r.run.strategy == name]

    @property
    def max_raw_hv(self) -> float:
        """The largest raw hypervolume possible: ``ref`` ** (number of objectives)."""
        return float(self.normalisation.ref ** len(self.objectives))

    def reference_hvs(self) -> list[float]:
        """The distinct reference hypervolumes runs are scored against (one unless per run)."""
        return sorted({r.reference_hv for r in self.runs})


def cost_label(evals: Sequence[Evaluation]) -> str:
    """Name of the cost axis from the devices that did the work."""
    devices = sorted({e.device for e in evals if e.device})
    gpu = [d for d in devices if "cuda" in d.lower() or "gpu" in d.lower()]
    if gpu:
        return f"GPU-hours ({', '.join(gpu)})"
    cpus = ", ".join(d.removeprefix("cpu:") for d in devices) or "unknown CPU"
    return f"CPU core-hours ({cpus}; process CPU time)"


def hv_curve(evals: Sequence[Evaluation], objectives: Sequence[Objective],
             norm: Normalisation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hypervolume of the front found so far after each evaluation, in the order results
    arrived (the run's clock, then sequence number), against cumulative cost (hours) and
    against the run's clock (hours)."""
    cost, hv, clock = [], [], []
    archive = np.zeros((0, len(objectives)))
    total = 0.0
    for e in sorted(evals, key=lambda e: (e.clock_s, e.seq)):
        total += e.cost_s
        clock.append(e.clock_s / 3600.0)
        pts, _ = feasible_points([e], objectives)
        if len(pts):
            archive = np.vstack([archive, pts])
            archive = archive[nondominated(archive)]
        cost.append(total / 3600.0)
        hv.append(norm.hypervolume(archive))
    return np.array(cost), np.array(hv), np.array(clock)


def compare(store: Store, runs: Sequence[StoredRun], ref: float = REF,
            reference: np.ndarray | None = None, reference_label: str | None = None,
            run_references: Mapping[int, np.ndarray] | None = None) -> Comparison:
    """Compute fronts, normalisation, hypervolume, IGD+ and HV-vs-cost curves for runs that
    share the same objectives.  ``reference`` (minimisation-form points, e.g. a tabular
    benchmark's true front, described by ``reference_label``) joins the union front that
    normalisation and IGD+ use, and is every run's reference front; ``run_references`` (run id
    -> points) gives each run its own reference front instead (they join the union too)."""
    if not runs:
        from .errors import UserError

        raise UserError("there are no runs to compare; run `moo-nas compare EXPERIMENT.toml` first.")
    objectives = objectives_of(runs[0])
    for r in runs[1:]:
        if [o.name for o in objectives_of(r)] != [o.name for o in objectives]:
            from .errors import UserError

            raise UserError(f"run {r.id} has other objectives than run {runs[0].id}; compare runs of one experiment.")
    summaries = []
    all_evals: list[Evaluation] = []
    for r in runs:
        evals = store.evaluations(r.id)
        all_evals.extend(evals)
        pts, kept = feasible_points(evals, objectives)
        mask = nondominated(pts)
        summaries.append(RunSummary(r, evals, pts[mask], [e for e, m in zip(kept, mask) if m]))
    union = np.vstack([s.front for s in summaries]) if summaries else np.zeros((0, len(objectives)))
    if reference is not None and len(reference):
        union = np.vstack([union, np.asarray(reference, dtype=float).reshape(-1, len(objectives))])
    for pts in (run_references or {}).values():
        union = np.vstack([union, np.asarray(pts, dtype=float).reshape(-1, len(objectives))])
    union = union[nondominated(union)] if len(union) else union
    if len(union):
        norm = Normalisation(union.min(axis=0), union.max(axis=0), ref)
    else:
        norm = Normalisation(np.zeros(len(objectives)), np.ones(len(objectives)), ref)
    zu = norm.apply(union) if len(union) else union
    union_hv = norm.hypervolume(union)
    ref_hv = {rid: norm.hypervolume(np.asarray(p, dtype=float).reshape(-1, len(objectives)))
              for rid, p in (run_references or {}).items()}
    for s in summaries:
        s.hypervolume = norm.hypervolume(s.front)
        s.reference_hv = ref_hv.get(s.run.id, union_hv)
        if len(s.front) and len(zu):
            s.igd_plus = float(moocore.igd_plus(norm.apply(s.front), ref=np.array(zu, copy=True)))
        s.curve_cost_hours, s.curve_hv, s.curve_clock_hours = hv_curve(s.evaluations, objectives, norm)
    cmp = Comparison(objectives, summaries, norm, union, cost_label(all_evals))
    if (reference is not None and len(reference)) or run_references:
        cmp.reference_label = reference_label or "a supplied reference front joined with the runs' fronts"
    return cmp
