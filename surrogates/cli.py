"""``moo-nas surrogates evaluate``: rank correlation of predictors vs training-set size.

A command group of the ``moo-nas`` CLI that lives with the surrogates it drives (listed by
name in :data:`moo_nas.cli.COMMAND_MODULES`, imported when the CLI starts).

Data: a tabular benchmark (``--table nb201`` or a table file from ``moo-nas tabulate``) or the
runs of a results store (``--store``, optionally ``--run`` / ``--experiment``).  Writes
``results.md`` (table), ``results.png`` (plot) and ``scores.json`` (every repeat) to ``--out``.
"""

from __future__ import annotations

import argparse
import sys

from moo_nas.cli.args import int_list, positive_int


_ints = int_list("5,8,14,24")


def _names(text: str) -> list[str]:
    out = [s.strip() for s in text.split(",") if s.strip()]
    if not out:
        raise argparse.ArgumentTypeError("give at least one predictor name, e.g. gbdt,rf")
    return out


def cmd_evaluate(args: argparse.Namespace) -> int:
    from moo_nas.errors import UserError

    from moo_nas.paths import check_output_dir, check_store_path

    from . import evaluation as E

    if (args.table is None) == (args.store is None):
        raise UserError("give exactly one data source: --table nb201 (or a table file) or --store FILE.")
    if args.store is not None:
        check_store_path(args.store, write=False)
    check_output_dir(args.out, "output folder --out")
    if args.table is not None:
        from moo_nas.tabular import load

        space, table = load(args.table, args.dataset if args.table == "nb201" else None)
        data = E.from_table(space, table, args.metric)
    else:
        data = E.from_store(args.store, args.metric, args.run, args.experiment)
    print(f"{data.name}: {len(data)} architectures with {args.metric}", file=sys.stderr)
    scores = E.evaluate(data, args.predictors, args.sizes, args.repeats, args.test, args.seed)
    print(E.write_report(scores, data, args.metric, args.out, args.max_train))
    print(f"written {args.out}/results.md, results.png, scores.json", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("surrogates", help="surrogate predictors: evaluate ranking quality",
                       description="Tools for the surrogate predictors of the surrogates package.")
    ssub = p.add_subparsers(dest="surrogates_command", metavar="SUBCOMMAND")
    e = ssub.add_parser("evaluate", help="Kendall tau / Spearman / MAE vs training-set size",
                        description="Fit each predictor on nested random training sets of the "
                                    "given sizes and score it on held-out architectures "
                                    "(NASLib protocol).")
    e.add_argument("--table", help="'nb201' or a table file written by moo-nas tabulate")
    e.add_argument("--dataset", default="cifar10", help="nb201 dataset: cifar10, cifar100, imagenet")
    e.add_argument("--store", help="results store whose runs provide the data")
    e.add_argument("--run", type=int, help="one run of --store (default: all runs)")
    e.add_argument("--experiment", help="runs of this experiment of --store")
    e.add_argument("--metric", default="val_accuracy", help="metric to predict")
    e.add_argument("--predictors", type=_names, default=["gp", "rf", "et", "gbdt", "mlp", "knn"],
                   help="comma-separated predictor names (default gp,rf,et,gbdt,mlp,knn)")
    e.add_argument("--sizes", type=_ints, default=[5, 8, 14, 24, 42, 71, 121, 205],
                   help="training-set sizes (default NASLib's 5,8,14,24,42,71,121,205)")
    e.add_argument("--repeats", type=positive_int, default=3, help="random splits per size")
    e.add_argument("--test", type=positive_int, default=1000,
                   help="held-out architectures per repeat (cap)")
    e.add_argument("--max-train", type=positive_int, default=100,
                   help="report the best predictor using at most this many training architectures")
    e.add_argument("--seed", type=int, default=0, help="seed of the random splits and predictors")
    e.add_argument("--out", default="reports/surrogates/evaluate", help="output folder")
    e.set_defaults(func=cmd_evaluate)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
