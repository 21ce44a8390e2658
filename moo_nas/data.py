"""Tasks: datasets with fixed train / validation / test splits, held in memory as tensors.

Built-in tasks:

* ``digits`` – scikit-learn's 8x8 handwritten digits (embedded in the wheel; the default).
* ``fashion-mnist`` – IDX files (``.gz`` or raw) from ``path``; the default path is where the
  Debian package ``dataset-fashion-mnist`` installs them.
* ``cifar10`` – the standard python-pickle batches (``cifar-10-batches-py``) from ``path``.
  They are read with an unpickler that only admits numpy arrays and plain containers, so a
  crafted file cannot execute code.

Splits are fixed: they depend on the task options only, never on a run's seed.  The search
sees validation accuracy; reports also keep test accuracy.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .errors import UserError

SPLIT_SEED = 20240601


@dataclass
class Task:
    """A classification task with fixed splits; tensors are float32 inputs and int64 labels."""

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    source: str
    options: dict[str, Any] = field(default_factory=dict)

    def config(self) -> dict[str, Any]:
        """Identity of the task for the store and cache keys."""
        return {"name": self.name, "options": self.options}

    def sizes(self) -> tuple[int, int, int]:
        return len(self.y_train), len(self.y_val), len(self.y_test)


def _standardise(x_train: np.ndarray, *others: np.ndarray) -> list[torch.Tensor]:
    mean, std = float(x_train.mean()), float(x_train.std()) or 1.0
    return [torch.from_numpy(((a - mean) / std).astype(np.float32)) for a in (x_train, *others)]


def _split(n: int, fractions: tuple[float, float], seed: int = SPLIT_SEED) -> tuple[np.ndarray, ...]:
    perm = np.random.default_rng(seed).permutation(n)
    a = int(round(n * fractions[0]))
    b = a + int(round(n * fractions[1]))
    return perm[:a], perm[a:b], perm[b:]


def _subsample(idx: np.ndarray, size: int | None) -> np.ndarray:
    if size is None or size >= len(idx):
        return idx
    return idx[:size]


def _check_options(task: str, options: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UserError(f"unknown option(s) {unknown} for task {task!r}; allowed: {', '.join(allowed) or 'none'}.")


def _int_option(options: dict[str, Any], key: str) -> int | None:
    v = options.get(key)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise UserError(f"task option {key!r} must be a positive integer, got {v!r}.")
    return v


# ----------------------------------------------------------------------------- digits
def load_digits_task(**options: Any) -> Task:
    """60 / 20 / 20 % split of the 1797 scikit-learn digits, pixels standardised."""
    _check_options("digits", options, ())
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = d.target.astype(np.int64)
    tr, va, te = _split(len(y), (0.6, 0.2))
    xs = _standardise(x[tr], x[va], x[te])
    ys = [torch.from_numpy(y[i]) for i in (tr, va, te)]
    return Task("digits", (1, 8, 8), 10, xs[0], ys[0], xs[1], ys[1], xs[2], ys[2],
                "scikit-learn load_digits (UCI optdigits test set), 1797 images", {})


# ----------------------------------------------------------------------------- IDX
def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (MNIST format), gzip-compressed or not."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise UserError(f"{path} is not an IDX file (bad magic number).")
    dtype_code, ndim = raw[2], raw[3]
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if dtype_code not in dtypes:
        raise UserError(f"{path} has an unknown IDX data type 0x{dtype_code:02x}.")
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=dtypes[dtype_code], offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise UserError(f"{path} is truncated: header says {dims}, found {data.size} values.")
    return data.reshape(dims)


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> None:
    """Write a uint8 array as an IDX file (used by tests and tools)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    data = header + array.tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


FASHION_DEFAULT = "/usr/share/datasets/fashion-mnist"


def _find(root: Path, stem: str, how_to_get: str) -> Path:
    for name in (stem + ".gz", stem):
        p = root / name
        if p.exists():
            return p
    raise UserError(f"dataset file {root / (stem + '.gz')} not found; {how_to_get}")


def load_fashion_mnist_task(**options: Any) -> Task:
    """Fashion-MNIST: the last 10 000 training images are the validation split.

    Options: ``path`` (folder of the four IDX files), ``train_size`` / ``val_size`` /
    ``test_size`` (take the first N of each split, for quick searches).
    """
    _check_options("fashion-mnist", options, ("path", "train_size", "val_size", "test_size"))
    root = Path(options.get("path", FASHION_DEFAULT))
    how = ("install the Debian package 'dataset-fashion-mnist' (apt-get install "
           "dataset-fashion-mnist) or set the task option path to a folder with the IDX files.")
    xtr = read_idx(_find(root, "train-images-idx3-ubyte", how))
    ytr = read_idx(_find(root, "train-labels-idx1-ubyte", how)).astype(np.int64)
    xte = read_idx(_find(root, "t10k-images-idx3-ubyte", how))
    yte = read_idx(_find(root, "t10k-labels-idx1-ubyte", how)).astype(np.int64)
    n_val = min(10000, len(ytr) // 6)
    tr = _subsample(np.arange(len(ytr) - n_val), _int_option(options, "train_size"))
    va = _subsample(np.arange(len(ytr) - n_val, len(ytr)), _int_option(options, "val_size"))
    te = _subsample(np.arange(len(yte)), _int_option(options, "test_size"))
    x = lambda a: (a.astype(np.float32) / 255.0)[:, None, :, :]  # noqa: E731
    xs = _standardise(x(xtr[tr]), x(xtr[va]), x(xte[te]))
    h, w = xtr.shape[1:]
    return Task("fashion-mnist", (1, h, w), 10, xs[0], torch.from_numpy(ytr[tr]), xs[1],
                torch.from_numpy(ytr[va]), xs[2], torch.from_numpy(yte[te]),
                f"Fashion-MNIST IDX files from {root}", dict(options))


# ----------------------------------------------------------------------------- CIFAR-10
class _SafeUnpickler(pickle.Unpickler):
    """Admits only numpy array reconstruction and builtin containers; nothing executable."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def safe_unpickle(path: Path) -> Any:
    """Unpickle a data file that may only contain numpy arrays and plain containers."""
    try:
        with open(path, "rb") as fh:
            return _SafeUnpickler(io.BufferedReader(fh), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise UserError(f"{path} is not a readable data pickle ({exc}).") from None


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    d = safe_unpickle(path)
    if not isinstance(d, dict):
        raise UserError(f"{path} is not a CIFAR-10 batch (expected a dict).")
    d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
    if "data" not in d or "labels" not in d:
        raise UserError(f"{path} is not a CIFAR-10 batch (no 'data'/'labels').")
    x = np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return x, np.asarray(d["labels"], dtype=np.int64)


def load_cifar10_task(**options: Any) -> Task:
    """CIFAR-10 python batches: data_batch_1..4 train, data_batch_5 validation, test_batch test.

    Options: ``path`` (the ``cifar-10-batches-py`` folder, required), ``train_size`` etc.
    """
    _check_options("cifar10", options, ("path", "train_size", "val_size", "test_size"))
    if "path" not in options:
        raise UserError("task 'cifar10' needs the option path = the 'cifar-10-batches-py' folder "
                        "(download it from https://www.cs.toronto.edu/~kriz/cifar.html).")
    root = Path(options["path"])
    how = "download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it there."
    files = sorted(root.glob("data_batch_*"))
    test = root / "test_batch"
    if not files:
        raise UserError(f"dataset file {root / 'data_batch_1'} not found; {how}")
    if not test.exists():
        raise UserError(f"dataset file {test} not found; {how}")
    batches = [_cifar_batch(f) for f in files]
    val = batches[-1] if len(batches) > 1 else None
    train = batches[:-1] if len(batches) > 1 else batches
    xtr = np.concatenate([b[0] for b in train]); ytr = np.concatenate([b[1] for b in train])
    if val is None:
        tr, va, _ = _split(len(ytr), (0.8, 0.2))
        xva, yva, xtr, ytr = xtr[va], ytr[va], xtr[tr], ytr[tr]
    else:
        xva, yva = val
    xte, yte = _cifar_batch(test)
    tr = _subsample(np.arange(len(ytr)), _int_option(options, "train_size"))
    va = _subsample(np.arange(len(yva)), _int_option(options, "val_size"))
    te = _subsample(np.arange(len(yte)), _int_option(options, "test_size"))
    f = lambda a: a.astype(np.float32) / 255.0  # noqa: E731
    xs = _standardise(f(xtr[tr]), f(xva[va]), f(xte[te]))
    return Task("cifar10", (3, 32, 32), 10, xs[0], torch.from_numpy(ytr[tr]), xs[1],
                torch.from_numpy(yva[va]), xs[2], torch.from_numpy(yte[te]),
                f"CIFAR-10 python batches from {root}", dict(options))


# ----------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class TaskDef:
    """A registered task: ``loader(**options)`` returns the :class:`Task`."""

    loader: Callable[..., Task]
    description: str


DIGITS = TaskDef(load_digits_task, "scikit-learn 8x8 digits, 10 classes (embedded, default)")
FASHION_MNIST = TaskDef(load_fashion_mnist_task, "Fashion-MNIST 28x28, 10 classes (IDX files)")
CIFAR10 = TaskDef(load_cifar10_task, "CIFAR-10 32x32x3, 10 classes (python batches, user path)")


# ----------------------------------------------------------------------------- time series
def read_ts(path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """Read an equal-length UCR/UEA ``.ts`` file: ``(series [N, dims, length], labels, class
    names)``.  Plain text parsing; nothing is imported from the package that ships the file."""
    classes: list[str] = []
    rows, labels = [], []
    in_data = False
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            low = line.lower()
            if low.startswith("@classlabel"):
                classes = line.split()[2:]
            in_data = low == "@data"
            continue
        *dims, label = line.split(":")
        rows.append([[float(v) for v in d.split(",")] for d in dims])
        labels.append(label)
    return np.asarray(rows, dtype=np.float32), labels, classes


def load_basic_motions_task(**options: Any) -> Task:
    """UEA BasicMotions (6 accelerometer/gyroscope channels x 100 steps, 4 classes), as shipped
    in the ``aeon`` wheel (``pip install --no-deps aeon`` is enough: its data files are read as
    text).  The archive's TRAIN file (40 series) is split 32 / 8 into train / validation with
    the fixed split seed; its TEST file (40 series) is the test set.  Standardised per channel
    with training statistics."""
    _check_options("basic-motions", options, ())
    import importlib.util

    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("task 'basic-motions' reads the data files of the aeon package; install "
                        "them with `pip install --no-deps aeon`.")
    root = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "BasicMotions"
    x_all, y_all, classes = read_ts(root / "BasicMotions_TRAIN.ts")
    x_te, y_te, _ = read_ts(root / "BasicMotions_TEST.ts")
    index = {c: i for i, c in enumerate(classes)}
    y_all_i = np.array([index[c] for c in y_all], dtype=np.int64)
    y_te_i = np.array([index[c] for c in y_te], dtype=np.int64)
    tr, va, _ = _split(len(y_all_i), (0.8, 0.2))
    mean = x_all[tr].mean(axis=(0, 2), keepdims=True)
    std = x_all[tr].std(axis=(0, 2), keepdims=True) + 1e-6
    xs = [torch.from_numpy((a - mean) / std) for a in (x_all[tr], x_all[va], x_te)]
    ys = [torch.from_numpy(a) for a in (y_all_i[tr], y_all_i[va], y_te_i)]
    return Task("basic-motions", (6, 100), 4, xs[0], ys[0], xs[1], ys[1], xs[2], ys[2],
                f"UEA BasicMotions from aeon's packaged .ts files ({root})", {})


BASIC_MOTIONS = TaskDef(load_basic_motions_task,
                        "UEA BasicMotions 6x100 sensor series, 4 classes (1-D; data files of the aeon wheel)")


def register_task(name: str, loader: Callable[..., Task], description: str) -> None:
    """Register a task loader under ``name`` (see :data:`moo_nas.registry.TASKS`)."""
    from .registry import TASKS

    TASKS.register(name, TaskDef(loader, description))


_CACHE: dict[str, Task] = {}


def load_task(name: str, **options: Any) -> Task:
    """Load a task by name (memoised per process for identical options)."""
    from .registry import TASKS

    task_def = TASKS.get(name)
    key = repr((name, sorted(options.items())))
    if key not in _CACHE:
        _CACHE[key] = task_def.loader(**options)
    return _CACHE[key]

