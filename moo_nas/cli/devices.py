"""``moo-nas devices``: import, list and export per-device NAS-Bench-201 tables.

``import`` reads HELP ``.pt`` files, a HW-NAS-Bench pickle or CSV files (see
:mod:`moo_nas.tabular.importers`) into one ``.npz`` table; ``list`` shows a table's columns with
their provenance and the objective names they provide; ``export`` writes one CSV row per
architecture (NB201 index, arch string, every metric).  ``help-nb201`` names the shipped table.
An experiment uses a table with ``[evaluator] device_tables = ["FILE.npz"]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_import(args: argparse.Namespace) -> int:
    from ..tabular.importers import import_files

    options = {"dataset": args.dataset, "arch_index": args.arch_index}
    if args.format == "csv":
        options.update(origin=args.origin, batch_size=args.batch_size, source=args.source)
    table = import_files(args.files, args.format, **options)
    out = table.save(args.out, "float32" if args.float32 else "float64")
    print(f"device table {out}: {len(table.columns)} column(s) for 15625 architectures: "
          + ", ".join(table.metrics()))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    import numpy as np

    from ..tabular.devices import DeviceTable

    table = DeviceTable.load(args.table)
    print(f"{args.table}: {table.source}")
    print(f"NB201 index recorded: {'yes' if table.nb201_index is not None else 'no'}")
    print(f"{'objective':28s} {'unit':8s} {'origin':9s} {'batch':6s} {'dataset':9s} "
          f"{'min':>9s} {'median':>9s} {'max':>9s}  source file")
    for c in table.columns:
        lo, med, hi = np.percentile(c.values, [0, 50, 100])
        print(f"{c.metric:28s} {c.unit[:8]:8s} {c.origin:9s} {str(c.batch_size or '-'):6s} "
              f"{c.dataset:9s} {lo:9.4g} {med:9.4g} {hi:9.4g}  {c.source_file}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..tabular.devices import DeviceTable

    out = DeviceTable.load(args.table).write_csv(args.csv)
    print(f"wrote {out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("devices", help="import, list and export per-device NAS-Bench-201 tables",
                       description="Per-device latency / energy tables for NAS-Bench-201: each "
                                   "device column becomes an objective <device>_latency_ms, "
                                   "<device>_energy_mj (see 'moo-nas devices list').")
    dsub = p.add_subparsers(dest="devices_command", metavar="ACTION", required=True)
    q = dsub.add_parser("import", help="read HELP / HW-NAS-Bench / CSV files into a table")
    q.add_argument("files", nargs="+", help="e.g. help/latency/*.pt, HW-NAS-Bench-v1_0.pickle, t.csv")
    q.add_argument("--format", required=True, choices=["help", "hw-nas-bench", "csv"],
                   help="layout of the files: HELP latency/*.pt, a HW-NAS-Bench pickle, or CSV")
    q.add_argument("--out", required=True, help="table file to write (.npz)")
    q.add_argument("--arch-index", help="arch string -> NB201 index map: HELP's str_arch2idx.pt "
                                        "(found beside latency/ by default) or a table such as help-nb201")
    q.add_argument("--dataset", default="cifar10", choices=["cifar10", "cifar100", "imagenet"],
                   help="NB201 dataset the networks were built for (default cifar10)")
    q.add_argument("--origin", default="measured", choices=["measured", "modelled"],
                   help="csv: origin of the values (eyeriss and fpga are always modelled)")
    q.add_argument("--batch-size", type=int, help="csv: batch size of the measurements")
    q.add_argument("--source", help="csv: attribution of the values")
    q.add_argument("--float32", action="store_true", help="store values as float32 (smaller)")
    q.set_defaults(func=cmd_import)
    q = dsub.add_parser("list", help="columns of a table, their provenance and objective names")
    q.add_argument("table", help="table file or help-nb201 (shipped)")
    q.set_defaults(func=cmd_list)
    q = dsub.add_parser("export", help="write one CSV row per architecture")
    q.add_argument("table", help="table file or help-nb201 (shipped)")
    q.add_argument("--csv", required=True, type=Path, help="CSV file to write")
    q.set_defaults(func=cmd_export)
