"""Per-device tables for NAS-Bench-201: one value per architecture and metric, with provenance.

A :class:`DeviceTable` holds columns such as ``raspi4_latency_ms`` for all 15 625 NAS-Bench-201
cells.  Rows are in one *canonical order* that follows from the architecture alone: position
``p`` is the cell whose six-digit key (digit i = :data:`OP_CODES` index of edge i, edges in
NAS-Bench-201's order (1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2)) is ``p`` written in base 5.
Importers (:mod:`.importers`) place every value by parsing its architecture string, never by
file position alone; the NB201 architecture index of each row is kept (``nb201_index``) when the
source establishes it, so a table can be exported with index and string side by side.

File format (``.npz``, read with ``numpy.load(allow_pickle=False)``, so loading runs no code):

``values``       float array (columns x 15 625), canonical row order;
``nb201_index``  int array (15 625,), NB201 index of each canonical row (absent when unknown);
``meta``         a JSON string: ``{"format": 1, "source": ..., "columns": [column, ...]}`` with
                 the fields of :class:`DeviceColumn` other than its values.

The project ships the HELP table of four devices (:data:`SHIPPED`, see ``data/README.md``);
``"help-nb201"`` names it wherever a table path is accepted.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import UserError

OP_CODES = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
N_ARCHS = 5 ** 6
KINDS = {"latency": ("ms", "latency_ms"), "energy": ("mJ", "energy_mj"),
         "arithmetic_intensity": ("ops/byte as recorded", "arithmetic_intensity")}
MODELLED_DEVICES = ("eyeriss", "fpga")  # HW-NAS-Bench's simulator estimates, not measurements
DATA_DIR = Path(__file__).resolve().parent / "data"
SHIPPED = {"help-nb201": DATA_DIR / "help-nb201.npz"}


# ---------------------------------------------------------------------------- arch codec
def arch_position(text: str) -> int:
    """Canonical position of a NAS-Bench-201 architecture string
    (``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``); a UserError names a malformed string."""
    ops: dict[tuple[int, int], str] = {}
    try:
        nodes = text.strip().split("+")
        if len(nodes) != 3:
            raise ValueError
        for j, node in enumerate(nodes, start=1):
            parts = node.strip().strip("|").split("|")
            if len(parts) != j:
                raise ValueError
            for part in parts:
                op, i = part.split("~")
                ops[(j, int(i))] = op
        digits = "".join(str(OP_CODES.index(ops[e])) for e in EDGES)
    except (ValueError, KeyError):
        raise UserError(f"{text!r} is not a NAS-Bench-201 architecture string "
                        "(|op~0|+|op~0|op~1|+|op~0|op~1|op~2| with ops "
                        f"{', '.join(OP_CODES)}).") from None
    return int(digits, 5)


def position_key(position: int) -> str:
    """Six-digit key (digit i = operation code of edge i) of a canonical position."""
    return np.base_repr(int(position), 5).zfill(6)


def position_arch(position: int) -> str:
    """NAS-Bench-201 architecture string of a canonical position."""
    ops = dict(zip(EDGES, (OP_CODES[int(c)] for c in position_key(position))))
    return "+".join("|" + "|".join(f"{ops[(j, i)]}~{i}" for i in range(j)) + "|" for j in (1, 2, 3))


def connected(key: str) -> bool:
    """Whether the cell of a six-digit key has a path from input (node 0) to output (node 3)
    through edges that are not ``none``.  About 2 % of NB201 cells have none: they train to
    chance accuracy whatever their latency."""
    reach = {0}
    for (j, i), c in sorted(zip(EDGES, key)):
        if c != "0" and i in reach:
            reach.add(j)
    return 3 in reach


# ---------------------------------------------------------------------------- records
@dataclass(frozen=True)
class DeviceColumn:
    """One metric of one device: the values and where they came from.

    ``origin`` is ``measured`` or ``modelled`` (simulator estimates); ``batch_size`` is None
    when the source does not state it; ``dataset`` the NB201 dataset the networks were built
    for; ``source_file`` the file the values were read from; ``source`` the attribution."""

    metric: str
    device: str
    kind: str
    unit: str
    origin: str
    batch_size: int | None
    dataset: str
    source_file: str
    source: str
    values: np.ndarray = field(repr=False, compare=False)

    def meta(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("values")
        return d

    def describe(self) -> str:
        """One provenance sentence: origin, device, batch size, source file and attribution."""
        batch = f"batch {self.batch_size}" if self.batch_size else "batch size not stated in the source"
        return (f"{self.origin}: {self.kind} on {self.device} ({batch}, NB201 {self.dataset} "
                f"networks), {self.source} [{self.source_file}]")


def metric_name(device: str, kind: str) -> str:
    """Objective name of a device column: ``raspi4`` + ``latency`` -> ``raspi4_latency_ms``."""
    return f"{device}_{KINDS[kind][1]}"


def make_column(device: str, kind: str, values: Sequence[float] | np.ndarray, *, origin: str,
                batch_size: int | None, dataset: str, source_file: str, source: str) -> DeviceColumn:
    """A column in canonical order, checked: 15 625 finite values of a known kind."""
    if kind not in KINDS:
        raise UserError(f"unknown device metric kind {kind!r}; use one of {', '.join(KINDS)}.")
    arr = np.asarray(values, dtype=float)
    if arr.shape != (N_ARCHS,) or not np.all(np.isfinite(arr)):
        raise UserError(f"the {kind} column of {device} in {source_file} must hold {N_ARCHS} "
                        "finite numbers, one per NB201 architecture.")
    return DeviceColumn(metric_name(device, kind), device, kind, KINDS[kind][0], origin,
                        batch_size, dataset, source_file, source, arr)


@dataclass
class DeviceTable:
    """Columns of per-device values in canonical order, and the NB201 index of each row."""

    columns: list[DeviceColumn]
    nb201_index: np.ndarray | None = None
    source: str = ""

    def __post_init__(self) -> None:
        names = [c.metric for c in self.columns]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise UserError(f"the metric(s) {dup} appear twice; import each device once.")
        if self.nb201_index is not None:
            idx = np.asarray(self.nb201_index, dtype=np.int64)
            if idx.shape != (N_ARCHS,) or not np.array_equal(np.sort(idx), np.arange(N_ARCHS)):
                raise UserError(f"an NB201 index map must give each of the {N_ARCHS} "
                                "architectures a distinct index 0 ... 15624.")
            self.nb201_index = idx

    def metrics(self) -> list[str]:
        return [c.metric for c in self.columns]

    def column(self, metric: str) -> DeviceColumn:
        for c in self.columns:
            if c.metric == metric:
                return c
        raise UserError(f"the device table has no column {metric!r}; it has: "
                        f"{', '.join(self.metrics())}.")

    def devices(self) -> list[str]:
        return list(dict.fromkeys(c.device for c in self.columns))

    def merged(self, other: "DeviceTable") -> "DeviceTable":
        """Both tables' columns (index maps must agree where both have one)."""
        a, b = self.nb201_index, other.nb201_index
        if a is not None and b is not None and not np.array_equal(a, b):
            raise UserError("two device tables disagree on the NB201 index of some architecture; "
                            "import them with the same --arch-index file.")
        return DeviceTable(self.columns + other.columns, a if a is not None else b,
                           "; ".join(s for s in (self.source, other.source) if s))

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path, dtype: str = "float64") -> Path:
        """Write the ``.npz`` file described in the module docstring (values as ``dtype``)."""
        path = Path(path)
        if path.suffix != ".npz":
            raise UserError(f"a device table is written as .npz; name it e.g. {path.stem}.npz.")
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": 1, "source": self.source, "columns": [c.meta() for c in self.columns]}
        arrays: dict[str, np.ndarray] = {
            "values": np.stack([c.values for c in self.columns]).astype(dtype),
            "meta": np.array(json.dumps(meta))}
        if self.nb201_index is not None:
            arrays["nb201_index"] = self.nb201_index.astype(np.int16)
        with open(path, "wb") as fh:
            # numpy's stub lets **kwargs reach allow_pickle: bool; every value here is an array
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
        return path

    @classmethod
    def load(cls, name: str | Path) -> "DeviceTable":
        """Read a table file, or the shipped table named ``"help-nb201"``."""
        return _load(str(resolve(name)))

    # ------------------------------------------------------------------ export
    def write_csv(self, path: str | Path) -> Path:
        """One row per architecture in NB201 index order (canonical order when the index is
        unknown): ``nb201_index``, ``arch``, then every metric column (unit in its name)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        order = (np.argsort(self.nb201_index) if self.nb201_index is not None
                 else np.arange(N_ARCHS))
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["nb201_index", "arch", *self.metrics()])
            for p in order:
                idx = "" if self.nb201_index is None else int(self.nb201_index[p])
                w.writerow([idx, position_arch(p), *(repr(float(c.values[p])) for c in self.columns)])
        return path


def resolve(name: str | Path) -> Path:
    """Path of a device table: a shipped name (``help-nb201``) or a file path."""
    if str(name) in SHIPPED:
        return SHIPPED[str(name)]
    path = Path(name)
    if not path.is_file():
        raise UserError(f"device table {path} not found; create one with 'moo-nas devices import' "
                        f"or use a shipped table ({', '.join(SHIPPED)}).")
    return path


def _read_npz(path: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not a device table written by 'moo-nas devices import' "
                        f"({exc}).") from None
    if not isinstance(meta, dict) or meta.get("format") != 1 or "columns" not in meta:
        raise UserError(f"{path} is not a device table written by 'moo-nas devices import'.")
    return meta, arrays


@lru_cache(maxsize=8)
def _load(path: str) -> DeviceTable:
    meta, arrays = _read_npz(path)
    values = arrays.get("values")
    cols_meta = meta["columns"]
    if values is None or values.shape != (len(cols_meta), N_ARCHS):
        raise UserError(f"{path} has values of the wrong shape; re-import it.")
    cols = [DeviceColumn(values=values[i].astype(float), **m) for i, m in enumerate(cols_meta)]
    return DeviceTable(cols, arrays.get("nb201_index"), str(meta.get("source", "")))


def column_metadata(name: str | Path) -> list[dict[str, Any]]:
    """The column descriptions of a table file, read without its values (for declaring
    metrics when the package is imported)."""
    path = resolve(name)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
        return list(meta["columns"])
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not a device table written by 'moo-nas devices import' "
                        f"({exc}).") from None
