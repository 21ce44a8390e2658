"""``moo-nas tabulate``: evaluate a whole space (or a stratified sample) into a table.

Every genotype is trained with the real evaluator, once per training seed; the evaluations are
runs of the store (experiment ``--name``, one run per seed), so an interrupted command resumes
where it stopped.  At the end the runs are written to a table file that
``[evaluator] kind = "table", table = "FILE"`` searches against.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .args import add_build_options, int_list, key_values as _kv



_seeds = int_list("0,1,2")


def cmd_tabulate(args: argparse.Namespace) -> int:
    from moo_nas.strategy import Problem

    from ..engine import Budget, run_search
    from ..evaluator import TrainingEvaluator, EvaluatorSpec, needed_providers
    from ..executors import make_executor
    from ..objectives import make_objective
    from ..store import Store
    from ..tabular.sampling import TableSweep, sweep_options, table_from_store
    from ..paths import check_name, check_output_file, check_store_path
    from ..training import Recipe

    check_store_path(args.store, write=True)
    check_output_file(args.out, "--out", "table.sqlite")
    name = check_name(args.name or f"tabulate-{args.space}-{args.task}", "--name")
    metrics = args.metric or ["val_accuracy", "params", "model_bytes", "macs", "peak_act_bytes"]
    objectives = tuple(make_objective(m) for m in metrics)
    spec = EvaluatorSpec(args.space, _kv(args.space_option, "--space-option"), args.task,
                         _kv(args.task_option, "--task-option"),
                         Recipe.from_mapping(_kv(args.recipe, "--recipe")), objectives,
                         needed_providers(objectives, ()), ())
    evaluator = TrainingEvaluator(spec)
    problem = Problem(evaluator.space, objectives, evaluator.task, spec.recipe)
    options = sweep_options(args.sample, args.sample_seed, args.batch)
    n = len(TableSweep(problem, 0, **options))
    print(f"tabulating {n} genotypes of {args.space!r} on {args.task!r} x {len(args.seeds)} "
          f"seed(s) into {args.store} (experiment {name!r})", file=sys.stderr)
    with Store(args.store) as store:
        for seed in args.seeds:
            executor = make_executor(name=args.executor)
            try:
                r = run_search(store, problem, evaluator, TableSweep, options, seed,
                               Budget(evaluations=n), executor, experiment=name)
            finally:
                executor.close()
            print(f"seed {seed}: run {r.run_id}, {len(r.evaluations)} evaluations "
                  f"({r.replayed} already stored)", file=sys.stderr)
        source = (f"moo-nas tabulate: {args.space} on {args.task}, recipe "
                  f"{spec.recipe.to_json()}, seeds {args.seeds}, store {args.store}")
        table = table_from_store(store, name, name, source)
    out = table.save(args.out)
    print(f"table {out}: {len(table)} architectures, {table.n_rows()} rows, "
          f"{table.total_train_seconds() / 3600:.4f} training hours")
    return 0


def cmd_table_stats(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..experiment import compare_experiment, load_experiment
    from ..paths import check_output_dir
    from ..report import statistics_lines
    from ..store import Store

    if args.out:
        check_output_dir(args.out, "output folder --out")
    exp = load_experiment(args.experiment)
    if exp.evaluator.get("kind") != "table":
        raise UserError(f"{args.experiment} does not evaluate with a table; table-stats needs "
                        "[evaluator] kind = \"table\".")
    store_path = Path(args.store or exp.store)
    if not store_path.exists():
        raise UserError(f"store {store_path} does not exist; run 'moo-nas compare "
                        f"{args.experiment}' first.")
    exp.store = store_path
    with Store(store_path) as store:
        cmp = compare_experiment(exp, store)  # raises a UserError when it holds no run of exp
    folder = Path(args.out or exp.report)
    folder.mkdir(parents=True, exist_ok=True)
    lines = statistics_lines(cmp, folder)
    out = folder / "statistics.md"
    out.write_text(f"# Statistics of experiment `{exp.name}` (store `{store_path}`)\n"
                   + "\n".join(lines) + "\n")
    print(f"wrote {out} and {folder / 'hv_bands.png'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tabulate", help="evaluate a space (or a stratified sample) into a table",
                       description="Train every genotype of a space, or a stratified sample, once "
                                   "per seed, storing each evaluation like a run (resumable); then "
                                   "write a table file for [evaluator] kind = \"table\".")
    p.add_argument("--space", default="digits-cnn", help="search space (see `moo-nas spaces`)")
    p.add_argument("--task", default="digits", help="task, i.e. dataset (see `moo-nas tasks`)")
    add_build_options(p)
    p.add_argument("--metric", action="append",
                   help="metric whose provider must run (repeatable; default val_accuracy, params, "
                        "model_bytes, macs, peak_act_bytes); e.g. latency_ms adds host latency")
    p.add_argument("--sample", type=int, help="stratified sample of N genotypes (default: all)")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the stratified sample")
    p.add_argument("--seeds", type=_seeds, default=[0], help="training seeds, e.g. 0,1,2")
    p.add_argument("--batch", type=int, default=1,
                   help="genotypes handed to the executor at once")
    p.add_argument("--executor", default="local", choices=["local", "ray"], help="where evaluations run")
    p.add_argument("--store", default="runs/tabulate.sqlite", help="results store (SQLite file)")
    p.add_argument("--name", help="experiment name of the runs (default tabulate-SPACE-TASK)")
    p.add_argument("--out", required=True, help="table file to write, e.g. tables/digits.sqlite")
    p.set_defaults(func=cmd_tabulate)

    p = sub.add_parser("table-stats", help="statistics of a table experiment against the true front",
                       description="For an experiment with [evaluator] kind = \"table\": hypervolume "
                                   "relative to the table's true front, time to 95/99 %, "
                                   "Mann-Whitney U with Holm correction, bootstrap bands.")
    p.add_argument("experiment", help="TOML experiment file, e.g. experiments/nb201.toml")
    p.add_argument("--store", help="override the experiment's store path")
    p.add_argument("--out", help="report folder (default: the experiment's report folder)")
    p.set_defaults(func=cmd_table_stats)
