"""Tabular benchmarks: search against tables of pre-evaluated architectures.

* :mod:`.table` – :class:`Table` (SQLite-backed rows with provenance) and
  :class:`TableEvaluator` (a drop-in for :class:`moo_nas.evaluator.Evaluator`).
* :mod:`.nb201` – NAS-Bench-201 (space ``nb201``, tables for CIFAR-10/100, ImageNet16-120,
  optional HW-NAS-Bench-layout device tables).
* :mod:`.sampling` – exhaustive and stratified genotype lists for ``moo-nas tabulate``.
* :mod:`.devices`, :mod:`.importers` – per-device NB201 tables (HELP, HW-NAS-Bench, CSV) and the
  shipped HELP table; :mod:`.transfer` and :mod:`.study` – the cross-device study.

:func:`make_table_evaluator` is what an experiment's ``[evaluator] kind = "table"`` section
calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import UserError
from ..objectives import Objective
from ..space import SearchSpace
from ..spaces import make_space
from . import nb201
from .devices import SHIPPED
from .table import Table, TableEvaluator, TableInfo, TableRow


__all__ = ["Table", "TableEvaluator", "TableInfo", "TableRow", "make_table_evaluator", "load"]

OPTIONS = ("table", "dataset", "hw_tables", "device_tables", "devices", "lookup",
           "drop_disconnected")
NB201_ONLY = ("dataset", "hw_tables", "device_tables", "devices", "drop_disconnected")


def load(table: str, dataset: str | None = None, hw_tables: str | Path | None = None,
         base_dir: str | Path | None = None, *, device_tables: Sequence[str] = (),
         lookup: str = "per-seed", drop_disconnected: bool = False) -> tuple[SearchSpace, Table]:
    """The space and table named by ``table``: ``"nb201"`` (with ``dataset`` and optional
    ``hw_tables`` / ``device_tables``) or the path of a table file written by ``moo-nas
    tabulate`` (relative paths are taken from ``base_dir``, the experiment file's folder).
    ``lookup = "mean"`` averages every architecture's rows over its recorded seeds."""
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    if lookup not in nb201.LOOKUPS:
        raise UserError(f"lookup must be one of {', '.join(nb201.LOOKUPS)}, not {lookup!r}.")
    if table == "nb201":
        ds = dataset or "cifar10"
        hw = None if hw_tables is None else (base / hw_tables)
        devs = [t if t in SHIPPED else str(base / t) for t in device_tables]
        return nb201.make_space(ds), nb201.load_table(ds, hw, devs, lookup, drop_disconnected)
    if dataset is not None or hw_tables is not None or device_tables or drop_disconnected:
        raise UserError("the options dataset, hw_tables, device_tables and drop_disconnected "
                        "apply to table = \"nb201\" only; remove them for a table file.")
    t = Table.load(base / table)
    if lookup == "mean":
        t = t.mean_over_seeds()
    cfg = t.info.space_config
    opts = dict(cfg.get("options", {}))
    space = make_space(t.info.space, cfg.get("input_shape", (1,)), cfg.get("num_classes", 1), **opts)
    return space, t


def make_table_evaluator(space: str, space_options: Mapping[str, Any] | None = None,
                         objectives: Sequence[Objective] = (), *,
                         base_dir: str | Path | None = None,
                         **options: Any) -> tuple[SearchSpace, TableEvaluator]:
    """Build the (space, evaluator) pair for an ``[evaluator] kind = "table"`` section.

    Parameters
    ----------
    space, space_options
        The experiment's ``[space]``: it must be the table's space (``nb201`` for NAS-Bench-201,
        where ``dataset`` may be given here or in the evaluator section).
    objectives
        The experiment's objectives; each must be a metric of the table (checked here), and
        their bounds are applied like the training evaluator does.
    base_dir
        Folder that relative paths are taken from (default: the working directory).
    **options
        The ``[evaluator]`` keys other than ``kind``: ``table`` (``"nb201"`` or the path of a
        table file written by ``moo-nas tabulate``; default ``"nb201"`` when the space is
        ``nb201``), ``dataset`` (nb201: ``cifar10`` default, ``cifar100``, ``imagenet``),
        ``hw_tables`` (nb201: JSON file of per-device tables, see
        :func:`moo_nas.tabular.nb201.load_hw_tables`), ``device_tables`` (nb201: a list of
        device tables from ``moo-nas devices import``, or ``"help-nb201"``, the shipped one),
        ``devices`` (a cross-device study, see :mod:`moo_nas.tabular.study`), ``lookup``
        (``"mean"``, the default: every metric averaged over the recorded training seeds, so
        runs and the true front see the same values; ``"per-seed"``: a run with seed s sees
        seed s's rows and is scored against the front of those rows) and ``drop_disconnected``
        (nb201: cells with no input-output path are ``infeasible``).

    Returns
    -------
    (space, evaluator)
        ``evaluator.table.points(objectives)`` gives every recorded objective vector, whose
        non-dominated set is the true front of the table.
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise UserError(f"unknown option(s) {unknown} in the table evaluator; allowed: "
                        f"{', '.join(OPTIONS)}.")
    opts = dict(options)
    sopts = dict(space_options or {})
    if space == "nb201":
        opts.setdefault("table", "nb201")
        ds = sopts.pop("dataset", None)
        if sopts:
            raise UserError(f"unknown option(s) {sorted(sopts)} for space 'nb201'; allowed: dataset.")
        if ds is not None and opts.get("dataset", ds) != ds:
            raise UserError(f"the space says dataset {ds!r} but the evaluator says "
                            f"{opts['dataset']!r}; give it once.")
        if ds is not None:
            opts["dataset"] = ds
    if not isinstance(opts.get("table"), str):
        raise UserError("a table evaluator needs table = \"nb201\" or the path of a table file.")
    devs = opts.get("device_tables", [])
    devs = [devs] if isinstance(devs, str) else devs
    if not isinstance(devs, list) or not all(isinstance(t, str) for t in devs):
        raise UserError("device_tables must be a table file or a list of them (e.g. "
                        "[\"help-nb201\"]).")
    if not isinstance(opts.get("drop_disconnected", False), bool):
        raise UserError("drop_disconnected must be true or false.")
    sp, table = load(opts["table"], opts.get("dataset"), opts.get("hw_tables"), base_dir,
                     device_tables=devs, lookup=opts.get("lookup", "mean"),
                     drop_disconnected=opts.get("drop_disconnected", False))
    if sp.name != space:
        raise UserError(f"table {table.info.name!r} holds space {sp.name!r}, but the experiment's "
                        f"space is {space!r}; set [space] name = \"{sp.name}\".")
    if "devices" in opts:
        from .study import check_study_objectives

        check_study_objectives(table, opts["devices"], objectives)
    have = set(table.metric_names())
    missing = [o.name for o in objectives if o.name not in have]
    if missing:
        raise UserError(f"table {table.info.name!r} has no metric(s) {missing}; it records: "
                        f"{', '.join(sorted(have))}.")
    return sp, TableEvaluator(table, sp, objectives)
