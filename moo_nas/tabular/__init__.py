"""Tabular benchmarks: search against tables of pre-evaluated architectures.

* :mod:`.table` – :class:`Table` (SQLite-backed rows with provenance) and
  :class:`TableEvaluator` (a drop-in for :class:`moo_nas.evaluator.Evaluator`).
* :mod:`.nb201` – NAS-Bench-201 (space ``nb201``, tables for CIFAR-10/100, ImageNet16-120,
  optional HW-NAS-Bench-layout device tables).
* :mod:`.sampling` – exhaustive and stratified genotype lists for ``moo-nas tabulate``.

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
from .table import Table, TableEvaluator, TableInfo, TableRow


__all__ = ["Table", "TableEvaluator", "TableInfo", "TableRow", "make_table_evaluator", "load"]

OPTIONS = ("table", "dataset", "hw_tables")


def load(table: str, dataset: str | None = None, hw_tables: str | Path | None = None,
         base_dir: str | Path | None = None) -> tuple[SearchSpace, Table]:
    """The space and table named by ``table``: ``"nb201"`` (with ``dataset`` and optional
    ``hw_tables``) or the path of a table file written by ``moo-nas tabulate`` (relative paths
    are taken from ``base_dir``, the experiment file's folder)."""
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    if table == "nb201":
        ds = dataset or "cifar10"
        hw = None if hw_tables is None else (base / hw_tables)
        return nb201.make_space(ds), nb201.load_table(ds, hw)
    if dataset is not None or hw_tables is not None:
        raise UserError("the options dataset and hw_tables apply to table = \"nb201\" only; "
                        "remove them for a table file.")
    t = Table.load(base / table)
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
        :func:`moo_nas.tabular.nb201.load_hw_tables`).

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
    sp, table = load(opts["table"], opts.get("dataset"), opts.get("hw_tables"), base_dir)
    if sp.name != space:
        raise UserError(f"table {table.info.name!r} holds space {sp.name!r}, but the experiment's "
                        f"space is {space!r}; set [space] name = \"{sp.name}\".")
    have = set(table.metric_names())
    missing = [o.name for o in objectives if o.name not in have]
    if missing:
        raise UserError(f"table {table.info.name!r} has no metric(s) {missing}; it records: "
                        f"{', '.join(sorted(have))}.")
    return sp, TableEvaluator(table, sp, objectives)
