"""Reading per-device NAS-Bench-201 tables from HELP, HW-NAS-Bench and CSV files.

Every importer places a value by the architecture string it belongs to (or by an NB201 index
that an index map turns into a string); a file whose row order cannot be established that way is
refused.  Loading executes no code: ``.pt`` files go through ``torch.load(weights_only=True)``,
pickles through :class:`BuiltinsOnlyUnpickler`.

* **HELP** (Lee et al., NeurIPS 2021, MIT): ``latency/<device>.pt`` holds a plain list of 15 625
  latencies in ms in NB201 index order; ``str_arch2idx.pt`` (beside the ``latency/`` folder, or
  given as ``arch_index``) maps each arch string to that index.  The device is the file's stem;
  a suffix ``_1``, ``_32`` or ``_256`` is the batch size (HELP's GPU files).
* **HW-NAS-Bench** (Li et al., ICLR 2021, MIT): ``d[space][dataset][metric][i]`` with
  ``d[space][dataset]["config"][i]["arch_str"]``; metrics ``<device>_latency`` (ms),
  ``<device>_energy`` (mJ), ``eyeriss_arithmetic_intensity``.  Its eyeriss and fpga values are
  simulator estimates: origin ``modelled``.
* **CSV**: an ``arch`` (or ``arch_str``) column and/or ``nb201_index``, then metric columns named
  ``<device>_latency_<ms|s|us>``, ``<device>_energy_<mj|j|uj>`` (converted to ms and mJ) or
  ``<device>_arithmetic_intensity``.
"""

from __future__ import annotations

import builtins
import csv
import pickle
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import UserError
from .devices import (MODELLED_DEVICES, N_ARCHS, SHIPPED, DeviceColumn, DeviceTable,
                      arch_position, make_column)

HELP_SOURCE = "HELP (Lee et al., NeurIPS 2021), data/nasbench201, MIT licence"
HWNB_SOURCE = "HW-NAS-Bench (Li et al., ICLR 2021), MIT licence"
HWNB_DATASET = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet": "ImageNet16-120"}
GPU_BATCH = re.compile(r"^(?P<base>.+)_(?P<batch>1|32|256)$")
CSV_COLUMN = re.compile(r"^(?P<device>.+?)_(?:(?P<kind>latency|energy)_(?P<unit>ms|s|us|mj|j|uj)"
                        r"|(?P<ai>arithmetic_intensity))$", re.IGNORECASE)
SCALE = {"ms": ("latency", 1.0), "s": ("latency", 1e3), "us": ("latency", 1e-3),
         "mj": ("energy", 1.0), "j": ("energy", 1e3), "uj": ("energy", 1e-3)}


def origin_of(device: str, default: str = "measured") -> str:
    """``modelled`` for HW-NAS-Bench's simulated devices (eyeriss, fpga), else ``default``."""
    base = GPU_BATCH.sub(r"\g<base>", device)
    return "modelled" if base in MODELLED_DEVICES else default


# ---------------------------------------------------------------------------- safe loading
class BuiltinsOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only harmless builtins (containers and numbers): a pickle that
    names any other class or function is refused instead of executing it."""

    ALLOWED = frozenset({"set", "frozenset", "complex", "bytearray", "slice", "range", "list",
                         "dict", "tuple", "int", "float", "str", "bytes", "bool"})

    def find_class(self, module: str, name: str) -> Any:
        if module in ("builtins", "__builtin__") and name in self.ALLOWED:
            return getattr(builtins, name)
        raise pickle.UnpicklingError(f"{module}.{name}")


def load_pickle(path: str | Path) -> Any:
    """A pickle of plain Python data; anything needing other code gets one sentence."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found.")
    try:
        with open(path, "rb") as fh:
            return BuiltinsOnlyUnpickler(fh).load()
    except pickle.UnpicklingError as exc:
        raise UserError(f"{path} needs {exc} to load, and only plain Python data (lists, dicts, "
                        "numbers, strings) is read, so that loading runs no code.") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise UserError(f"{path} is not a readable pickle ({exc}).") from None


def load_torch(path: str | Path) -> Any:
    """A ``.pt`` file through ``torch.load(weights_only=True)`` (no code runs)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "other code"
        raise UserError(f"{path} holds more than plain data and is not loaded, because loading "
                        f"must run no code ({first[:120]}).") from None
    except (RuntimeError, EOFError, ValueError, OSError) as exc:
        raise UserError(f"{path} is not a torch file ({str(exc).splitlines()[0][:120]}).") from None


def load_index_map(path: str | Path) -> np.ndarray:
    """NB201 index of each canonical position, from HELP's ``str_arch2idx.pt`` (a dict arch
    string -> index) or from a device table that records one (e.g. ``help-nb201``)."""
    if str(path) in SHIPPED or str(path).endswith(".npz"):
        idx = DeviceTable.load(path).nb201_index
        if idx is None:
            raise UserError(f"device table {path} records no NB201 index; name another map.")
        return idx
    mapping = load_torch(path)
    if not isinstance(mapping, dict) or len(mapping) != N_ARCHS:
        raise UserError(f"{path} must hold a dict of {N_ARCHS} NB201 arch strings -> index "
                        "(HELP's str_arch2idx.pt).")
    idx = np.full(N_ARCHS, -1, dtype=np.int64)
    for arch, i in mapping.items():
        if not isinstance(arch, str) or isinstance(i, bool) or not isinstance(i, int):
            raise UserError(f"{path} must map arch strings to integer indices.")
        idx[arch_position(arch)] = i
    DeviceTable([], idx)  # checks that it is a permutation of 0 ... 15624
    return idx


# ---------------------------------------------------------------------------- HELP
def import_help(files: Sequence[str | Path], arch_index: str | Path | None = None,
                dataset: str = "cifar10") -> DeviceTable:
    """HELP ``latency/<device>.pt`` files, joined through ``str_arch2idx.pt``."""
    paths = [Path(f) for f in files]
    if not paths:
        raise UserError("name at least one HELP latency file (latency/<device>.pt).")
    if arch_index is None:
        beside = {p.resolve().parent.parent / "str_arch2idx.pt" for p in paths}
        found = [b for b in beside if b.is_file()]
        if len(found) != len(beside) or len(found) != 1:
            raise UserError("the order of HELP latency files is given by str_arch2idx.pt, which "
                            "is not beside their latency/ folder; name it with --arch-index FILE.")
        arch_index = found[0]
    idx = load_index_map(arch_index)
    cols = []
    for p in paths:
        raw = load_torch(p)
        if not isinstance(raw, (list, tuple)) or len(raw) != N_ARCHS:
            raise UserError(f"{p} must hold a list of {N_ARCHS} latencies (HELP layout).")
        try:
            values = np.asarray(raw, dtype=float)[idx]
        except (TypeError, ValueError):
            raise UserError(f"{p} holds values that are not numbers.") from None
        m = GPU_BATCH.match(p.stem)
        batch = int(m.group("batch")) if m else None
        cols.append(make_column(p.stem, "latency", values, origin=origin_of(p.stem),
                                batch_size=batch, dataset=dataset, source_file=p.name,
                                source=HELP_SOURCE))
    return DeviceTable(cols, idx, f"{HELP_SOURCE}; order from {Path(str(arch_index)).name}")


# ---------------------------------------------------------------------------- HW-NAS-Bench
def _kind_of(metric: str) -> tuple[str, str] | None:
    for kind in ("arithmetic_intensity", "latency", "energy"):
        if metric.endswith("_" + kind) and len(metric) > len(kind) + 1:
            return metric[: -len(kind) - 1], kind
    return None


def _at(seq: Any, i: int) -> Any:
    try:
        return seq[i]
    except (KeyError, IndexError, TypeError):
        raise UserError(f"a HW-NAS-Bench list has no entry for architecture index {i}.") from None


def import_hw_nas_bench(path: str | Path, dataset: str = "cifar10", space: str = "nasbench201",
                        arch_index: str | Path | None = None) -> DeviceTable:
    """The NB201 part of a HW-NAS-Bench pickle for ``dataset`` (cifar10, cifar100, imagenet).
    Rows are placed by ``config[i]["arch_str"]``; index ``i`` is kept as the NB201 index (and
    checked against ``arch_index`` when given)."""
    if dataset not in HWNB_DATASET:
        raise UserError(f"unknown dataset {dataset!r}; choose one of {', '.join(HWNB_DATASET)}.")
    path = Path(path)
    doc = load_pickle(path)
    try:
        block = doc[space][HWNB_DATASET[dataset]]
        config = block["config"]
    except (KeyError, TypeError):
        raise UserError(f"{path} is not in the HW-NAS-Bench layout "
                        f"d[{space!r}][{HWNB_DATASET[dataset]!r}][metric][index] with a "
                        "'config' entry holding arch_str.") from None
    positions = np.empty(N_ARCHS, dtype=np.int64)
    for i in range(N_ARCHS):
        c = _at(config, i)
        arch = c.get("arch_str") if isinstance(c, Mapping) else c
        if not isinstance(arch, str):
            raise UserError(f"config entry {i} of {path} has no arch_str.")
        positions[i] = arch_position(arch)
    idx = np.full(N_ARCHS, -1, dtype=np.int64)
    idx[positions] = np.arange(N_ARCHS)
    if arch_index is not None and not np.array_equal(load_index_map(arch_index), idx):
        raise UserError(f"the architecture order of {path} differs from {arch_index}; the file is "
                        "not in NB201 index order.")
    cols: list[DeviceColumn] = []
    for name in sorted(k for k in block if k != "config"):
        dk = _kind_of(str(name))
        if dk is None:
            raise UserError(f"metric {name!r} in {path} is not <device>_latency, <device>_energy "
                            "or <device>_arithmetic_intensity.")
        device, kind = dk
        try:
            raw = np.array([float(_at(block[name], i)) for i in range(N_ARCHS)])
        except (TypeError, ValueError):
            raise UserError(f"metric {name!r} in {path} holds values that are not numbers.") from None
        values = np.empty(N_ARCHS)
        values[positions] = raw
        cols.append(make_column(device, kind, values, origin=origin_of(device),
                                batch_size=None, dataset=dataset, source_file=path.name,
                                source=f"{HWNB_SOURCE}, {space}/{HWNB_DATASET[dataset]}/{name}"))
    if not cols:
        raise UserError(f"{path} holds no metric for {space}/{HWNB_DATASET[dataset]}.")
    return DeviceTable(cols, idx, f"{HWNB_SOURCE} ({path.name})")


# ---------------------------------------------------------------------------- CSV
def import_csv(path: str | Path, arch_index: str | Path | None = None, dataset: str = "cifar10",
               origin: str = "measured", batch_size: int | None = None,
               source: str | None = None) -> DeviceTable:
    """A CSV with ``arch``/``arch_str`` and/or ``nb201_index`` and metric columns (see module)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found.")
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        rows = [r for r in reader if any(x.strip() for x in r)]
    arch_col = next((header.index(h) for h in ("arch", "arch_str") if h in header), None)
    idx_col = header.index("nb201_index") if "nb201_index" in header else None
    index_map = load_index_map(arch_index) if arch_index is not None else None
    if arch_col is None and (idx_col is None or index_map is None):
        raise UserError(f"{path} has no arch column, so its rows can be placed only through an "
                        "NB201 index and an index map: add an nb201_index column and name "
                        "--arch-index (e.g. str_arch2idx.pt or help-nb201).")
    metrics = []
    for j, h in enumerate(header):
        if j in (arch_col, idx_col):
            continue
        m = CSV_COLUMN.match(h)
        if not m:
            raise UserError(f"column {h!r} of {path} is not <device>_latency_ms|s|us, "
                            "<device>_energy_mj|j|uj or <device>_arithmetic_intensity; rename it.")
        if m.group("ai"):
            metrics.append((j, m.group("device"), "arithmetic_intensity", 1.0))
        else:
            kind, scale = SCALE[m.group("unit").lower()]
            metrics.append((j, m.group("device"), kind, scale))
    if len(rows) != N_ARCHS:
        raise UserError(f"{path} has {len(rows)} rows; it must list each of the {N_ARCHS} NB201 "
                        "architectures once.")
    pos = np.empty(N_ARCHS, dtype=np.int64)
    given_idx = np.full(N_ARCHS, -1, dtype=np.int64)
    try:
        for r, row in enumerate(rows):
            if idx_col is not None and row[idx_col].strip():
                given_idx[r] = int(row[idx_col])
            if arch_col is not None:
                pos[r] = arch_position(row[arch_col])
        if arch_col is None:
            assert index_map is not None
            inverse = np.argsort(index_map)  # index -> canonical position
            if given_idx.min() < 0 or given_idx.max() >= N_ARCHS:
                raise ValueError("an nb201_index outside 0 ... 15624")
            pos = inverse[given_idx]
        values = {j: np.array([float(row[j]) for row in rows]) for j, *_ in metrics}
    except (ValueError, IndexError) as exc:
        raise UserError(f"{path} has a row that cannot be read ({exc}).") from None
    if len(set(pos.tolist())) != N_ARCHS:
        raise UserError(f"{path} lists some architecture twice; each must appear once.")
    idx = None
    if idx_col is not None and given_idx.min() >= 0:
        idx = np.empty(N_ARCHS, dtype=np.int64)
        idx[pos] = given_idx
        if index_map is not None and not np.array_equal(idx, index_map):
            raise UserError(f"the nb201_index column of {path} disagrees with {arch_index}.")
    elif index_map is not None:
        idx = index_map
    cols = []
    for j, device, kind, scale in metrics:
        v = np.empty(N_ARCHS)
        v[pos] = values[j] * scale
        cols.append(make_column(device, kind, v, origin=origin_of(device, origin),
                                batch_size=batch_size, dataset=dataset, source_file=path.name,
                                source=source or f"CSV file {path.name}"))
    return DeviceTable(cols, idx, source or f"CSV file {path.name}")


FORMATS = {"help": "HELP latency/<device>.pt files", "hw-nas-bench": "a HW-NAS-Bench pickle",
           "csv": "CSV files with arch / nb201_index and metric columns"}


def import_files(files: Sequence[str | Path], fmt: str, **options: Any) -> DeviceTable:
    """Import ``files`` of format ``fmt`` (:data:`FORMATS`) into one table."""
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    if fmt == "help":
        return import_help(files, options.get("arch_index"), options.get("dataset", "cifar10"))
    tables = []
    for f in files:
        if fmt == "hw-nas-bench":
            tables.append(import_hw_nas_bench(f, options.get("dataset", "cifar10"),
                                              arch_index=options.get("arch_index")))
        else:
            tables.append(import_csv(f, **options))
    if not tables:
        raise UserError("name at least one file to import.")
    out = tables[0]
    for t in tables[1:]:
        out = out.merged(t)
    return out
