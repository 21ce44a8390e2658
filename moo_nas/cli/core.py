"""Core commands: search, compare, report, show, export and the listings."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..paths import check_name, check_output_dir, check_output_file, check_store_path
from .args import add_build_options, key_values as _kv, positive_int


def cmd_search(args: argparse.Namespace) -> int:
    from ..experiment import parse_experiment, run_experiment

    from .byo import seed_model_space

    check_name(args.name, "--name")
    traced, traced_options = seed_model_space(args)
    if traced is not None:
        args.space = traced
        args.space_option = list(args.space_option or []) + [
            f"{k}={v if isinstance(v, str) else ','.join(map(str, v))}" for k, v in traced_options.items()]
    data: dict[str, Any] = {
        "name": args.name,
        "seeds": [args.seed],
        "task": {"name": args.task, **_kv(args.task_option, "--task-option")},
        "space": {"name": args.space, **_kv(args.space_option, "--space-option")},
        "recipe": _kv(args.recipe, "--recipe"),
        "budget": {k: v for k, v in (("evaluations", args.evaluations), ("seconds", args.seconds),
                                      ("cost_hours", args.cost_hours)) if v is not None},
        "objectives": [],
        "strategies": [{"name": args.strategy, **_kv(args.option, "--option")}],
        "store": args.store,
        "executor": {"name": args.executor, **({"address": args.ray_address} if args.ray_address else {})},
        "workers": args.workers,
    }
    if args.report:
        data["report"] = args.report
    from ..objectives import parse_objective

    for text in args.objective or ["val_accuracy", "model_bytes", "peak_act_bytes", "latency_ms"]:
        o = parse_objective(text)
        data["objectives"].append({"name": o.name, **({"bound": o.bound} if o.bound is not None else {})})
    if not data["budget"]:
        data["budget"] = {"evaluations": 20}
    exp = parse_experiment(data, "the command line")
    out = run_experiment(exp, progress=not args.quiet)
    print(f"report written to {out}/README.md; store {exp.store}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ..experiment import load_experiment, run_experiment

    overrides: dict[str, Any] = {"store": args.store, "report": args.report, "jobs": args.jobs,
                                 "workers": args.workers, "name": args.name}
    if args.executor:
        overrides["executor"] = {"name": args.executor,
                                 **({"address": args.ray_address} if args.ray_address else {})}
    exp = load_experiment(args.experiment, {k: v for k, v in overrides.items() if v is not None})
    if args.workers is not None and args.name is None:
        # another worker count is another experiment: its runs are filed (and reported) apart
        exp = exp.renamed(f"{exp.name}-w{exp.workers}", args.report is None)
    out = run_experiment(exp, progress=not args.quiet)
    print((Path(out) / "README.md").read_text() if args.print else f"report written to {out}/README.md")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ..comparator import compare
    from ..report import write_report

    check_store_path(args.store, write=False)
    check_output_dir(args.out, "report folder --out")
    store = _open_store(args.store)
    runs = store.runs(args.experiment)
    if not runs:
        raise UserError(f"store {args.store} has no runs" + (f" of experiment {args.experiment!r}; "
                        f"`moo-nas show {args.store}` lists them." if args.experiment else "."))
    out = write_report(compare(store, runs), args.out, f"Runs of {args.experiment or args.store}")
    print(f"report written to {out}/README.md")
    return 0


def _open_store(path: str):
    """The store at ``path`` for reading (show, report, export): it must exist."""
    from ..store import Store

    check_store_path(path, write=False)
    return Store(path)


def cmd_show(args: argparse.Namespace) -> int:
    from ..comparator import feasible_points, nondominated, objectives_of

    store = _open_store(args.store)
    if args.run is None:
        print(f"{'run':>4} {'experiment':<16} {'strategy':<18} {'seed':>4} {'evals':>6} {'status':<9}")
        for r in store.runs():
            n = len(store.evaluations(r.id))
            print(f"{r.id:>4} {r.experiment:<16} {r.strategy:<18} {r.seed:>4} {n:>6} {r.status:<9}")
        return 0
    run = store.run(args.run)
    objs = objectives_of(run)
    evals = store.evaluations(run.id)
    pts, kept = feasible_points(evals, objs)
    front = [e for e, m in zip(kept, nondominated(pts)) if m]
    print(f"Pareto front of run {run.id} ({run.strategy}, seed {run.seed}): {len(front)} of {len(evals)} evaluations")
    names = [o.name for o in objs] + (["test_accuracy"] if "test_accuracy" not in [o.name for o in objs] else [])
    print("  ".join(f"{n:>15}" for n in ["seq"] + names) + "  genotype")
    for e in sorted(front, key=lambda e: e.value(objs[0].name) or 0):
        print("  ".join(f"{x:>15.6g}" if isinstance(x, float) else f"{x:>15}" for x in
                        [e.seq] + [e.value(n) if e.value(n) is not None else float('nan') for n in names])
              + "  " + " ".join(f"{k}={v}" for k, v in e.genotype.items()))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    check_store_path(args.store, write=False)
    check_output_file(args.out, "--out", "run.csv")
    store = _open_store(args.store)
    store.run(args.run)
    print(f"wrote {store.export_csv(args.run, args.out)}")
    return 0


def cmd_spaces(args: argparse.Namespace) -> int:
    from ..registry import SPACES

    for name, cls in SPACES.items():
        print(f"{name:<14} {cls.description}")
    return 0


def cmd_strategies(args: argparse.Namespace) -> int:
    from ..registry import STRATEGIES

    for name, cls in STRATEGIES.items():
        opts = ", ".join(cls.option_names())
        print(f"{name:<18} {cls.description}" + (f"  [options: {opts}]" if opts else ""))
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    from ..registry import TASKS

    for name, task_def in TASKS.items():
        print(f"{name:<14} {task_def.description}")
    return 0


def cmd_objectives(args: argparse.Namespace) -> int:
    from ..objectives import all_metrics, provider_for

    for name, m in sorted(all_metrics().items()):
        print(f"{name:<18} {m.direction:<4} {m.unit:<9} {m.stage:<8} {provider_for(name) or 'training':<14} {m.description}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from ..training import Recipe

    recipe_defaults = ", ".join(f"{k}={v}" for k, v in Recipe().to_json().items())
    p = sub.add_parser("search", help="run one strategy on one space/task (resumable)",
                       description="Run one search; running the same command again resumes it.")
    p.add_argument("--strategy", default="nsga2", help="search strategy (see `moo-nas strategies`)")
    p.add_argument("--space", default="digits-cnn", help="search space (see `moo-nas spaces`)")
    p.add_argument("--task", default="digits", help="task, i.e. dataset (see `moo-nas tasks`)")
    p.add_argument("--seed", type=int, default=0, help="seed of the strategy and of training")
    p.add_argument("--evaluations", type=positive_int,
                   help="budget: evaluations (default 20 when no budget is given)")
    p.add_argument("--seconds", type=float, help="budget: wall-clock seconds of this session")
    p.add_argument("--cost-hours", type=float, help="budget: accumulated search cost in device-hours")
    p.add_argument("--objective", action="append", metavar="METRIC[<=|>=BOUND]",
                   help="objective, optionally bounded, e.g. val_accuracy or 'model_bytes<=64KiB' "
                        "(repeatable; default: val_accuracy, model_bytes, peak_act_bytes, latency_ms)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="strategy option (repeatable), e.g. pop_size=8 or targets=0.5,0.25")
    add_build_options(p, f"; defaults: {recipe_defaults}")
    p.add_argument("--store", default="runs/search.sqlite", help="results store (SQLite file)")
    p.add_argument("--name", default="search",
                   help="experiment name the run is filed under (letters, digits, -_.)")
    p.add_argument("--report", help="report folder (default runs/reports/NAME)")
    p.add_argument("--executor", default="local", choices=["local", "ray"],
                   help="where evaluations run")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="evaluations kept in flight at once (asynchronous strategies are told each "
                        "result as it arrives; with a table evaluator the workers are simulated)")
    p.add_argument("--ray-address", help="address of an existing Ray cluster (with --executor ray)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    from .byo import add_seed_model_args

    add_seed_model_args(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("compare", help="run an experiment file (strategies x seeds) and write its report",
                       description="Run or resume every strategy x seed of a TOML experiment, then report.")
    p.add_argument("experiment", help="TOML experiment file, e.g. experiments/quickstart.toml")
    p.add_argument("--store", help="override the experiment's store path")
    p.add_argument("--report", help="override the experiment's report folder")
    p.add_argument("--jobs", type=positive_int,
                   help="runs executed in parallel processes (default: the experiment's jobs)")
    p.add_argument("--workers", type=positive_int,
                   help="evaluations in flight per run (default: the experiment's workers); the runs "
                        "are filed as experiment NAME-wN, with their own report, unless --name is given")
    p.add_argument("--name", help="file the runs under this experiment name instead of the file's")
    p.add_argument("--executor", choices=["local", "ray"],
                   help="override the experiment's executor (default: its [executor])")
    p.add_argument("--ray-address", help="address of an existing Ray cluster (with --executor ray)")
    p.add_argument("--print", action="store_true", help="print the Markdown report")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("report", help="write a report for the runs in a store",
                       description="Compare the runs of a store (or of one experiment in it) and "
                                   "write a report folder.")
    p.add_argument("store", help="results store (SQLite file)")
    p.add_argument("--experiment", help="only runs of this experiment (default: all runs)")
    p.add_argument("--out", default="reports/report", help="report folder to write")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("show", help="list a store's runs, or the Pareto table of one run",
                       description="List a store's runs, or print the Pareto front of one run.")
    p.add_argument("store", help="results store (SQLite file)")
    p.add_argument("--run", type=int, help="run id whose Pareto front to print (default: list runs)")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("export", help="export a run's evaluations to CSV",
                       description="Write every evaluation of one run to a CSV file.")
    p.add_argument("store", help="results store (SQLite file)")
    p.add_argument("--run", type=int, required=True, help="run id (see `moo-nas show STORE`)")
    p.add_argument("--out", required=True, help="CSV file to write")
    p.set_defaults(func=cmd_export)

    for name, fn, text in (("spaces", cmd_spaces, "list search spaces"),
                           ("strategies", cmd_strategies, "list search strategies"),
                           ("tasks", cmd_tasks, "list tasks (datasets)"),
                           ("objectives", cmd_objectives, "list metrics usable as objectives")):
        sub.add_parser(name, help=text, description=text).set_defaults(func=fn)
