"""Benchmarks of the surrogates package; results go to reports/surrogates/.

Sub-commands (run from the repository root):

``predictors --source nb201``   predictor Spearman / Kendall vs training-set size on the
                                NAS-Bench-201 CIFAR-10 table (NASLib protocol).
``predictors --source digits``  the same on the tabulated digits-cnn store
                                (``moo-nas tabulate``, see reports/surrogates/README.md).
``search``                      plain NSGA-II vs surrogate-NSGA-II on NAS-Bench-201 CIFAR-10
                                (table-backed evaluation, cost = recorded GPU training time):
                                hypervolume-vs-cost curves, and the cost at which the
                                surrogate run reaches plain NSGA-II's final hypervolume.
``zero-cost``                   Spearman of each zero-cost proxy with digits accuracy.
``curves``                      learning-curve extrapolation vs the raw early accuracy.
``experiment``                  surrogate-nsga2 vs nsga2 inside the NB201 experiment's store
                                (``moo-nas compare experiments/nb201.toml`` first).

Every report file starts with the command that rewrites it, the commit and the host's load;
stores go under ``runs/`` (the digits store and table are committed in reports/surrogates/).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from moo_nas.errors import main_or_exit
from moo_nas.statistics import time_to_target
from provenance import RunClock

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "reports" / "surrogates"
DIGITS_STORE = OUT / "digits_store.sqlite"
SIZES = [5, 8, 14, 24, 42, 71, 100, 121, 205]
#: a hypervolume within this of the target counts as reaching it (float round-off of equal fronts)
TOL = 1e-12


def _with_header(path: Path, clock: RunClock) -> str:
    """Put the command, commit, machine load and wall time at the top of the report ``path``
    (already written); returns the whole text."""
    text = "\n".join(clock.header()) + "\n\n" + path.read_text()
    path.write_text(text)
    return text


def _relative(path: str | Path) -> str:
    """``path`` relative to the repository root when it lies inside it (for report text)."""
    p = Path(path).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(path)


def _digits_set():
    """The committed digits-cnn table (reports/surrogates/digits_store.sqlite) as a labelled
    set of ``val_accuracy``, its source named relative to the repository."""
    from surrogates import evaluation as E

    data = E.from_store(DIGITS_STORE, "val_accuracy")
    return dataclasses.replace(data, source=f"store {_relative(DIGITS_STORE)} (committed)")


def cmd_predictors(args: argparse.Namespace) -> None:
    from surrogates import evaluation as E

    if args.source == "nb201":
        from moo_nas.tabular import load

        space, table = load("nb201", "cifar10")
        data = E.from_table(space, table, "val_accuracy")
    else:
        data = _digits_set()
    sizes = [s for s in SIZES if s <= len(data) - 50]
    n_test = None if args.source == "digits" else args.test
    clock = RunClock()
    scores = E.evaluate(data, args.predictors, sizes, args.repeats, n_test, seed=0)
    E.write_report(scores, data, "val_accuracy", OUT / args.source, 100,
                   stem="predictors", json_name="predictors.json")
    print(_with_header(OUT / args.source / "predictors.md", clock))


def _run_strategy(store, problem, ev, name, opts, seed, n):
    from moo_nas.engine import Budget, run_search

    return run_search(store, problem, ev, name, opts, seed, Budget(evaluations=n),
                      experiment="bench-surrogates")


def _true_front_normalisation(table, objectives):
    """Normalisation between the ideal and nadir of the table's true front (reference 1.1)."""
    from moo_nas.comparator import Normalisation, nondominated

    pts = table.points(objectives)
    front = pts[nondominated(pts)]
    return Normalisation(front.min(0), front.max(0))


def _reach(seed: int, plain: tuple, surrogate: tuple) -> dict:
    """Per seed: each run's final HV and cost, and the cost (and evaluations) at which the
    surrogate run first reaches plain NSGA-II's final HV (``inf`` / None if it never does)."""
    (cp, hp), (cs, hs) = plain, surrogate
    target = hp[-1] - TOL
    c_reach = time_to_target(cs, hs, target)
    n_reach = time_to_target(np.arange(1, len(hs) + 1), hs, target)  # cost = evaluations
    return {"seed": seed, "nsga2_final_hv": float(hp[-1]), "nsga2_cost_h": float(cp[-1]),
            "surrogate_final_hv": float(hs[-1]), "surrogate_cost_h": float(cs[-1]),
            "surrogate_reach_cost_h": c_reach, "ratio": c_reach / float(cp[-1]),
            "evals_to_reach": int(n_reach) if np.isfinite(n_reach) else None}


def _ratio_table(rows: list[dict]) -> list[str]:
    lines = ["| seed | NSGA-II final HV | NSGA-II cost (GPU-h) | surrogate reaches it at (GPU-h) "
             "| ratio | surrogate final HV | surrogate cost (GPU-h) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['nsga2_final_hv']:.4f} | {r['nsga2_cost_h']:.1f} | "
                     f"{r['surrogate_reach_cost_h']:.1f} | {r['ratio']:.2f} | "
                     f"{r['surrogate_final_hv']:.4f} | {r['surrogate_cost_h']:.1f} |")
    return lines


def cmd_search(args: argparse.Namespace) -> None:
    from moo_nas.comparator import hv_curve
    from moo_nas.objectives import make_objective
    from moo_nas.store import Store
    from moo_nas.strategy import Problem
    from moo_nas.tabular import make_table_evaluator

    objs = tuple(make_objective(o) for o in ("val_error", args.cost_objective))
    space, ev = make_table_evaluator("nb201", {}, objs)
    problem = Problem(space, objs)
    norm = _true_front_normalisation(ev.table, objs)
    plain = ("nsga2", {"pop_size": args.pop})
    surr = ("surrogate-nsga2", {"pop_size": args.surrogate_pop, **json.loads(args.options)})
    out = Path(args.out) if args.out else OUT / "search"
    out.mkdir(parents=True, exist_ok=True)
    Path(args.store).parent.mkdir(parents=True, exist_ok=True)
    clock = RunClock()
    rows, curves = [], {"nsga2": [], "surrogate-nsga2": []}
    with Store(args.store) as st:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            t0 = time.perf_counter()
            rp = _run_strategy(st, problem, ev, *plain, seed, args.evaluations)
            cp, hp, _ = hv_curve(rp.evaluations, objs, norm)
            t1 = time.perf_counter()
            rs = _run_strategy(st, problem, ev, *surr, seed, args.surrogate_evaluations)
            cs, hs, _ = hv_curve(rs.evaluations, objs, norm)
            t2 = time.perf_counter()
            rows.append(dict(_reach(seed, (cp, hp), (cs, hs)), nsga2_wall_s=t1 - t0,
                             surrogate_wall_s=t2 - t1, surrogate_stats=rs.stats))
            curves["nsga2"].append((cp.tolist(), hp.tolist()))
            curves["surrogate-nsga2"].append((cs.tolist(), hs.tolist()))
            print(json.dumps(rows[-1]), flush=True)
    ratios = np.array([r["ratio"] for r in rows])
    med_ratio = float(np.median(ratios))
    (out / "search.json").write_text(json.dumps({"rows": rows, "curves": curves}, indent=0))
    _plot_search(curves, out / "search.png", objs)
    lines = [
        f"NAS-Bench-201 CIFAR-10, objectives val_error (min) and {args.cost_objective} (min); "
        f"table-backed evaluation; cost = NAS-Bench-201's recorded GPU training time "
        f"(200 epochs) of every evaluated architecture (measured), plus strategy time on this host.",
        f"Hypervolume normalised between the ideal and nadir of the table's true front, "
        f"reference point 1.1.  Plain NSGA-II: pop {args.pop}, {args.evaluations} evaluations; "
        f"surrogate-NSGA-II: {surr[1]}, {args.surrogate_evaluations} evaluations.  Store "
        f"`{_relative(args.store)}` (runs already in it are read, not redone).",
        "",
        *_ratio_table(rows),
    ]
    lines += ["", f"**Median ratio (cost for surrogate-NSGA-II to reach plain NSGA-II's final "
                  f"hypervolume / plain NSGA-II's total cost) over {len(rows)} seeds: "
                  f"{med_ratio:.2f}** (target <= 0.50).", ""]
    lines += ["Plain NSGA-II's run stopped earlier is the prefix of the same run (the strategy does "
              "not depend on the budget), so the same runs give the ratio for smaller NSGA-II "
              "budgets:", "",
              "| NSGA-II evaluations | per-seed ratios | median ratio |", "|---|---|---|"]
    for b in sorted({args.evaluations // 3, args.evaluations // 2, 2 * args.evaluations // 3,
                     args.evaluations}):
        rs = [time_to_target(cs, hs, hp[b - 1] - TOL) / cp[b - 1]
              for (cp, hp), (cs, hs) in zip(curves["nsga2"], curves["surrogate-nsga2"])]
        lines.append(f"| {b} | {', '.join(f'{r:.2f}' for r in rs)} | {np.median(rs):.2f} |")
    lines.append("")
    (out / "search.md").write_text("\n".join(lines))
    print(_with_header(out / "search.md", clock))


def cmd_experiment(args: argparse.Namespace) -> None:
    """Surrogate-NSGA-II against NSGA-II inside a table experiment's store (run it first with
    ``moo-nas compare EXPERIMENT``): per seed, the cost at which surrogate-nsga2 reaches
    NSGA-II's final hypervolume (normalised on the table's true front) over NSGA-II's cost."""
    from moo_nas.comparator import hv_curve
    from moo_nas.experiment import build, load_experiment
    from moo_nas.store import Store

    clock = RunClock()
    exp = load_experiment(args.experiment)
    if args.store:
        exp = dataclasses.replace(exp, store=Path(args.store))
    _, ev = build(exp)
    norm = _true_front_normalisation(ev.table, exp.objectives)
    curves: dict[str, list] = {"nsga2": [], "surrogate-nsga2": []}
    rows = []
    with Store(exp.store) as st:
        runs = {(r.strategy, r.seed): r for r in st.runs(exp.name)}
        for seed in exp.seeds:
            if ("nsga2", seed) not in runs or ("surrogate-nsga2", seed) not in runs:
                continue
            cp, hp, _ = hv_curve(st.evaluations(runs[("nsga2", seed)].id), exp.objectives, norm)
            cs, hs, _ = hv_curve(st.evaluations(runs[("surrogate-nsga2", seed)].id), exp.objectives, norm)
            rows.append(_reach(seed, (cp, hp), (cs, hs)))
            curves["nsga2"].append((cp.tolist(), hp.tolist()))
            curves["surrogate-nsga2"].append((cs.tolist(), hs.tolist()))
    if not rows:
        raise SystemExit(f"{exp.store} has no nsga2 + surrogate-nsga2 runs of {exp.name!r}; "
                         f"run `moo-nas compare {args.experiment}` first.")
    out = Path(args.out) if args.out else OUT / "experiment"
    out.mkdir(parents=True, exist_ok=True)
    opts = {s.name: s.options for s in exp.strategies}
    title = " vs ".join(o.name for o in exp.objectives)
    _plot_search(curves, out / "experiment.png", exp.objectives, title=f"{title}, {exp.name}")
    ratios = [r["ratio"] for r in rows]
    lines = [f"Experiment `{_relative(args.experiment)}` (store `{_relative(exp.store)}`): objectives "
             + ", ".join(o.describe() for o in exp.objectives) + f"; {exp.budget.to_json()} per run; "
             f"nsga2 {opts.get('nsga2') or 'defaults'}, surrogate-nsga2 {opts.get('surrogate-nsga2') or 'defaults'}. "
             "Hypervolume normalised on the table's true front (reference 1.1); cost = recorded "
             "GPU training time of every evaluated cell + strategy time.", "", *_ratio_table(rows)]
    lines += ["", f"**Median ratio over {len(rows)} seeds: {np.median(ratios):.2f}** (target <= 0.50); "
              f"{int(np.isfinite(ratios).sum())} of {len(rows)} seeds reach NSGA-II's final hypervolume.", ""]
    (out / "experiment.md").write_text("\n".join(lines))
    print(_with_header(out / "experiment.md", clock))


def _plot_search(curves, path: Path, objs, title: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name, colour in (("nsga2", "tab:blue"), ("surrogate-nsga2", "tab:red")):
        runs = curves[name]
        grid = np.linspace(0, max(c[-1] for c, _ in runs), 200)
        ys = np.array([np.interp(grid, c, h, left=0.0, right=h[-1]) for c, h in runs])
        for c, h in runs:
            ax.plot(c, h, color=colour, alpha=0.2, lw=0.8)
        ax.plot(grid, np.median(ys, axis=0), color=colour, lw=2, label=f"{name} (median)")
    ax.set_xlabel("search cost: GPU-hours of training (NAS-Bench-201 recorded)")
    ax.set_ylabel("hypervolume (normalised to the true front)")
    ax.set_title(title or "val_error vs " + objs[1].name + ", NAS-Bench-201 CIFAR-10")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _write_digits(name: str, lines: list[str], clock: RunClock) -> None:
    """Write ``lines`` to reports/surrogates/digits/``name`` under the command header."""
    (OUT / "digits").mkdir(parents=True, exist_ok=True)
    (OUT / "digits" / name).write_text("\n".join(lines) + "\n")
    print(_with_header(OUT / "digits" / name, clock))


def cmd_zero_cost(args: argparse.Namespace) -> None:
    from scipy.stats import kendalltau, spearmanr

    from moo_nas.data import load_task
    from surrogates import zero_cost as Z

    clock = RunClock()
    data = _digits_set()
    task = load_task("digits")
    mb = Z.minibatch(task, 64, seed=0)
    t0 = time.perf_counter()
    S = Z.score_matrix(data.space, data.genotypes, mb, Z.PROXIES, seed=0)
    secs = (time.perf_counter() - t0) / len(data)
    lines = [f"Zero-cost proxies on the tabulated digits-cnn {data.source} ({len(data)} architectures, "
             f"one minibatch of 64 training images, weights initialised with seed 0); "
             f"{secs * 1000:.0f} ms per architecture for all proxies on this host.", "",
             "| proxy | Spearman | Kendall |", "|---|---|---|"]
    for j, p in enumerate(Z.PROXIES):
        lines.append(f"| {p} | {spearmanr(S[:, j], data.y)[0]:.3f} | {kendalltau(S[:, j], data.y)[0]:.3f} |")
    _write_digits("zero_cost.md", lines, clock)


def cmd_curves(args: argparse.Namespace) -> None:
    import torch
    from scipy.stats import spearmanr

    from moo_nas.data import load_task
    from moo_nas.spaces import make_space
    from moo_nas.training import Recipe
    from surrogates.learning_curve import extrapolate, record_curve

    clock = RunClock()
    task = load_task("digits")
    space = make_space("digits-cnn", task.input_shape, task.num_classes)
    recipe = Recipe(epochs=args.epochs)
    rng = np.random.default_rng(0)
    curves = []
    t0 = time.perf_counter()
    seen = set()
    while len(curves) < args.n:
        g = space.sample(rng)
        fp = space.arch(g).fingerprint()
        if fp in seen:
            continue
        seen.add(fp)
        torch.manual_seed(0)
        curves.append(record_curve(space.build(g), task, recipe, seed=0))
    secs = time.perf_counter() - t0
    C = np.array(curves)
    final = C[:, -1]
    lines = [f"Learning-curve extrapolation on {args.n} random digits-cnn architectures "
             f"(recipe {recipe.epochs} epochs, cosine; validation accuracy after every epoch; "
             f"{secs:.0f} s of training on this host).", "",
             "| epochs seen | fraction of cost | Spearman raw acc | Spearman pow | Spearman exp | Spearman auto | MAE raw | MAE auto |",
             "|---|---|---|---|---|---|---|---|"]
    for k in args.seen:
        raw = C[:, k - 1]
        pw = np.array([extrapolate(c[:k], recipe.epochs, "pow") for c in C])
        ex = np.array([extrapolate(c[:k], recipe.epochs, "exp") for c in C])
        au = np.array([extrapolate(c[:k], recipe.epochs, "auto") for c in C])
        lines.append(f"| {k} | {k / recipe.epochs:.2f} | {spearmanr(raw, final)[0]:.3f} | "
                     f"{spearmanr(pw, final)[0]:.3f} | {spearmanr(ex, final)[0]:.3f} | "
                     f"{spearmanr(au, final)[0]:.3f} | {np.abs(raw - final).mean():.3f} | "
                     f"{np.abs(au - final).mean():.3f} |")
    _write_digits("learning_curves.md", lines, clock)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("predictors")
    p.add_argument("--source", choices=["nb201", "digits"], default="nb201")
    p.add_argument("--predictors", type=lambda s: s.split(","),
                   default=["gp", "rf", "et", "gbdt", "mlp", "knn", "bayes-ridge", "combo"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--test", type=int, default=1000)
    p.set_defaults(func=cmd_predictors)
    p = sub.add_parser("search")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--pop", type=int, default=20)
    p.add_argument("--evaluations", type=int, default=300)
    p.add_argument("--surrogate-pop", type=int, default=10)
    p.add_argument("--surrogate-evaluations", type=int, default=150)
    p.add_argument("--cost-objective", default="params")
    p.add_argument("--options", default="{}", help="JSON of extra surrogate-nsga2 options")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--out", help="output folder (default reports/surrogates/search)")
    p.add_argument("--store", default=str(ROOT / "runs" / "bench_surrogates_search.sqlite"),
                   help="results store of the runs (default runs/bench_surrogates_search.sqlite)")
    p.set_defaults(func=cmd_search)
    p = sub.add_parser("experiment", help="surrogate-nsga2 vs nsga2 in a table experiment's store")
    p.add_argument("--experiment", default=str(ROOT / "experiments" / "nb201.toml"))
    p.add_argument("--store", help="the experiment's store (default: the store its TOML names)")
    p.add_argument("--out", help="output folder (default reports/surrogates/experiment)")
    p.set_defaults(func=cmd_experiment)
    p = sub.add_parser("zero-cost")
    p.set_defaults(func=cmd_zero_cost)
    p = sub.add_parser("curves")
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seen", type=lambda s: [int(x) for x in s.split(",")], default=[2, 3, 4])
    p.set_defaults(func=cmd_curves)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main_or_exit(main, "bench_surrogates.py")
