"""How well predictors rank architectures: the NASLib protocol on a table or a store.

For each repeat, the labelled architectures are shuffled (seeded); the first ``n`` of the
permutation train the predictor for every ``n`` in ``sizes`` (nested training sets) and a fixed
held-out set — architectures outside the largest training set — is predicted.  Scores: Kendall
tau, Spearman rho and mean absolute error on the held-out set, plus fit and query wall time.

Data come from a :class:`~moo_nas.tabular.Table` (NAS-Bench-201 or a ``moo-nas tabulate`` file)
or from the runs of a results store; either way the target of an architecture is the mean of
its recorded seeds, and genotypes that describe the same network (differing only in inactive
variables) are merged so no architecture is both trained on and tested.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy.stats import kendalltau, spearmanr

from moo_nas.errors import UserError
from moo_nas.space import Genotype, SearchSpace

from .features import make_encoder
from moo_nas.registry import PREDICTORS

from .models import make_predictor

NASLIB_SIZES = (5, 8, 14, 24, 42, 71, 121, 205)


@dataclass
class LabelledSet:
    """Architectures with one observed metric each (mean over recorded seeds)."""

    name: str
    source: str
    metric: str
    space: SearchSpace
    genotypes: list[Genotype]
    y: np.ndarray
    train_seconds: np.ndarray

    def __len__(self) -> int:
        return len(self.genotypes)

    def features(self) -> np.ndarray:
        return make_encoder(self.space).encode(self.genotypes)


@dataclass(frozen=True)
class Score:
    """One predictor fitted on ``n_train`` architectures in one repeat."""

    predictor: str
    n_train: int
    repeat: int
    n_test: int
    kendall: float
    spearman: float
    mae: float
    fit_s: float
    query_s: float


@dataclass(frozen=True)
class Summary:
    """Mean (and standard deviation over repeats) of the scores of one predictor and size."""

    predictor: str
    n_train: int
    repeats: int
    n_test: int
    kendall: float
    kendall_sd: float
    spearman: float
    spearman_sd: float
    mae: float
    fit_s: float
    query_s: float


def _arch_id(space: SearchSpace, g: Genotype) -> str:
    if space.table_only:  # the genotype is the network
        return g.key
    return space.arch(g).fingerprint()


def _merge(name: str, source: str, metric: str, space: SearchSpace,
           items: Sequence[tuple[Genotype, float, float]]) -> LabelledSet:
    groups: dict[str, list[tuple[Genotype, float, float]]] = {}
    for g, v, t in items:
        if np.isfinite(v):
            groups.setdefault(_arch_id(space, g), []).append((g, v, t))
    if not groups:
        raise UserError(f"no successful evaluation records the metric {metric!r}; choose a "
                        "metric the table or run holds.")
    keys = sorted(groups)
    gs = [groups[k][0][0] for k in keys]
    y = np.array([np.mean([v for _, v, _ in groups[k]]) for k in keys])
    t = np.array([np.mean([s for _, _, s in groups[k]]) for k in keys])
    return LabelledSet(name, source, metric, space, gs, y, t)


def from_table(space: SearchSpace, table: Any, metric: str = "val_accuracy") -> LabelledSet:
    """Labelled set of every ``ok`` architecture of a tabular benchmark."""
    if metric not in table.metric_names():
        raise UserError(f"table {table.info.name!r} has no metric {metric!r}; it records: "
                        f"{', '.join(table.metric_names())}.")
    items = []
    for r in table.all_rows():
        if r.status == "ok" and metric in r.values:
            items.append((space.make(dict(r.genotype)), r.values[metric].value, r.train_seconds))
    return _merge(table.info.name, table.info.source, metric, space, items)


def from_store(path: str | Path, metric: str = "val_accuracy", run_id: int | None = None,
               experiment: str | None = None) -> LabelledSet:
    """Labelled set of the ``ok`` evaluations of a store's runs (one run, one experiment, or
    all runs of the store; they must share one space)."""
    from moo_nas.spaces import make_space
    from moo_nas.store import Store

    path = Path(path)
    if not path.is_file():
        raise UserError(f"store {path} not found; give the path of a moo-nas results store.")
    with Store(path) as store:
        runs = [store.run(run_id)] if run_id is not None else store.runs(experiment)
        if not runs:
            raise UserError(f"store {path} has no runs{f' of {experiment!r}' if experiment else ''}; "
                            "check the experiment name with `moo-nas show`.")
        configs = {json.dumps(r.space, sort_keys=True) for r in runs}
        if len(configs) > 1:
            raise UserError(f"the selected runs of {path} use {len(configs)} different spaces; "
                            "select one run with --run or one experiment with --experiment.")
        cfg = runs[0].space
        space = make_space(cfg["name"], cfg.get("input_shape", (1,)), cfg.get("num_classes", 1),
                           **cfg.get("options", {}))
        items = []
        for r in runs:
            for e in store.evaluations(r.id):
                v = e.value(metric)
                if e.status == "ok" and v is not None:
                    items.append((space.make(e.genotype), float(v), float(e.train_s)))
    label = f"{path.name}" + (f" run {run_id}" if run_id is not None else "")
    return _merge(label, f"store {path}", metric, space, items)


def _score(name: str, options: dict[str, Any], X: np.ndarray, y: np.ndarray, tr: np.ndarray,
           te: np.ndarray, seed: int, repeat: int) -> Score:
    model = make_predictor(name, seed, **options)
    t0 = time.perf_counter()
    model.fit(X[tr], y[tr])
    t1 = time.perf_counter()
    pred = model.predict(X[te]).mean
    t2 = time.perf_counter()
    if np.ptp(pred) == 0:
        tau = rho = 0.0
    else:
        tau, rho = float(kendalltau(pred, y[te])[0]), float(spearmanr(pred, y[te])[0])
    return Score(name, len(tr), repeat, len(te), tau, rho, float(np.mean(np.abs(pred - y[te]))),
                 t1 - t0, t2 - t1)


def evaluate(data: LabelledSet, predictors: Sequence[str], sizes: Sequence[int] = NASLIB_SIZES,
             repeats: int = 3, n_test: int | None = 1000, seed: int = 0,
             options: dict[str, dict[str, Any]] | None = None) -> list[Score]:
    """Score every predictor at every training-set size (see the module docstring).

    ``n_test`` caps the held-out set (None: every architecture outside the largest training
    set).  Sizes larger than the data allow (at least 10 architectures must stay held out)
    are a :class:`UserError`.
    """
    for p in predictors:
        if p not in PREDICTORS:
            make_predictor(p)  # raises the unknown-name error
    sizes = sorted({int(s) for s in sizes})
    if not sizes or sizes[0] < 2:
        raise UserError("training-set sizes must be integers >= 2, e.g. 5,8,14,24,42,71,121,205.")
    if sizes[-1] > len(data) - 10:
        raise UserError(f"the largest training-set size {sizes[-1]} leaves fewer than 10 of the "
                        f"{len(data)} architectures for testing; use smaller sizes.")
    X, y = data.features(), data.y
    options = options or {}
    out: list[Score] = []
    for r in range(int(repeats)):
        perm = np.random.default_rng(seed + r).permutation(len(y))
        te = perm[sizes[-1]:]
        if n_test is not None:
            te = te[: int(n_test)]
        for n in sizes:
            for p in predictors:
                out.append(_score(p, options.get(p, {}), X, y, perm[:n], te, seed + r, r))
    return out


def summarise(scores: Sequence[Score]) -> list[Summary]:
    """Average the repeats of each (predictor, size)."""
    groups: dict[tuple[str, int], list[Score]] = {}
    for s in scores:
        groups.setdefault((s.predictor, s.n_train), []).append(s)
    out = []
    for (p, n), ss in groups.items():
        k = np.array([s.kendall for s in ss])
        r = np.array([s.spearman for s in ss])
        out.append(Summary(p, n, len(ss), ss[0].n_test, float(k.mean()), float(k.std()),
                           float(r.mean()), float(r.std()),
                           float(np.mean([s.mae for s in ss])),
                           float(np.mean([s.fit_s for s in ss])),
                           float(np.mean([s.query_s for s in ss]))))
    return sorted(out, key=lambda s: (s.predictor, s.n_train))


def best(summaries: Sequence[Summary], max_train: int = 100) -> Summary:
    """The (predictor, size) with the highest mean Spearman using at most ``max_train``."""
    ok = [s for s in summaries if s.n_train <= max_train]
    if not ok:
        raise UserError(f"no training-set size <= {max_train} was evaluated.")
    return max(ok, key=lambda s: (s.spearman, -s.n_train))


def markdown(summaries: Sequence[Summary], data: LabelledSet) -> str:
    """Markdown table: one row per predictor, Spearman / Kendall per training-set size."""
    sizes = sorted({s.n_train for s in summaries})
    preds = sorted({s.predictor for s in summaries})
    by = {(s.predictor, s.n_train): s for s in summaries}
    n_test = summaries[0].n_test if summaries else 0
    reps = summaries[0].repeats if summaries else 0
    lines = [f"Predictors on **{data.name}** ({len(data)} architectures, target `{data.metric}`; "
             f"{reps} repeats, {n_test} held-out architectures each; source: {data.source}).",
             "", "Spearman rho (Kendall tau) vs number of training architectures:", "",
             "| predictor | " + " | ".join(str(n) for n in sizes) + " | fit s | query s |",
             "|---|" + "---|" * (len(sizes) + 2)]
    for p in preds:
        cells = []
        for n in sizes:
            s = by.get((p, n))
            cells.append("" if s is None else f"{s.spearman:.3f} ({s.kendall:.3f})")
        last = by[(p, sizes[-1])]
        lines.append(f"| {p} | " + " | ".join(cells) + f" | {last.fit_s:.3f} | {last.query_s:.4f} |")
    lines.append("")
    lines.append(f"fit / query time: mean wall seconds at n = {sizes[-1]} on this host.")
    return "\n".join(lines) + "\n"


def plot(summaries: Sequence[Summary], path: str | Path, title: str = "") -> Path:
    """PNG of Spearman and Kendall vs training-set size (log x), one line per predictor."""
    from moo_nas.plots import pyplot, save_figure

    fig, axes = pyplot().subplots(1, 2, figsize=(10, 4))
    for p in sorted({s.predictor for s in summaries}):
        ss = sorted((s for s in summaries if s.predictor == p), key=lambda s: s.n_train)
        n = [s.n_train for s in ss]
        axes[0].errorbar(n, [s.spearman for s in ss], yerr=[s.spearman_sd for s in ss],
                         label=p, marker="o", ms=3, capsize=2)
        axes[1].errorbar(n, [s.kendall for s in ss], yerr=[s.kendall_sd for s in ss],
                         label=p, marker="o", ms=3, capsize=2)
    for ax, lab in zip(axes, ("Spearman rho", "Kendall tau")):
        ax.set_xscale("log")
        ax.set_xlabel("training architectures")
        ax.set_ylabel(lab)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def write_json(scores: Sequence[Score], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(s) for s in scores], indent=1))
    return path


def write_report(scores: Sequence[Score], data: LabelledSet, metric: str, folder: str | Path,
                 max_train: int = 100, stem: str = "results", json_name: str = "scores.json") -> str:
    """Write ``<stem>.md`` (table + the best predictor with at most ``max_train`` training
    architectures), ``<stem>.png`` and ``json_name`` (raw scores) into ``folder``; returns the
    Markdown text."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    summary = summarise(scores)
    b = best(summary, max_train)
    text = markdown(summary, data) + (
        f"\nBest with <= {max_train} training architectures: **{b.predictor}** at n = {b.n_train}: "
        f"Spearman {b.spearman:.3f} +- {b.spearman_sd:.3f} (Kendall {b.kendall:.3f}), held-out "
        f"set {b.n_test} architectures, {b.repeats} repeats.\n")
    (folder / f"{stem}.md").write_text(text)
    plot(summary, folder / f"{stem}.png", f"{data.name}: {metric}")
    write_json(scores, folder / json_name)
    return text
