import pickle

import numpy as np
import pytest

from moo_nas.data import load_task, read_idx, safe_unpickle, write_idx
from moo_nas.errors import UserError


def test_digits_fixed_splits():
    t = load_task("digits")
    assert t.sizes() == (1078, 359, 360)
    assert t.input_shape == (1, 8, 8)
    t2 = load_task("digits")
    assert (t.y_val == t2.y_val).all()


def _write_fmnist(folder, n_train=120, n_test=30, compress=True):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / ("train-images-idx3-ubyte" + (".gz" if compress else "")), rng.integers(0, 256, (n_train, 28, 28)), compress)
    write_idx(folder / ("train-labels-idx1-ubyte" + (".gz" if compress else "")), rng.integers(0, 10, n_train), compress)
    write_idx(folder / ("t10k-images-idx3-ubyte" + (".gz" if compress else "")), rng.integers(0, 256, (n_test, 28, 28)), compress)
    write_idx(folder / ("t10k-labels-idx1-ubyte" + (".gz" if compress else "")), rng.integers(0, 10, n_test), compress)


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_idx_loader(tmp_path, compress):
    _write_fmnist(tmp_path / "f", compress=compress)
    t = load_task("fashion-mnist", path=str(tmp_path / "f"))
    assert t.input_shape == (1, 28, 28)
    assert t.sizes() == (100, 20, 30)
    arr = read_idx(tmp_path / "f" / ("t10k-labels-idx1-ubyte" + (".gz" if compress else "")))
    assert arr.shape == (30,)


def test_missing_dataset_names_path_and_fix(tmp_path):
    with pytest.raises(UserError, match="dataset-fashion-mnist") as e:
        load_task("fashion-mnist", path=str(tmp_path / "nothing"))
    assert str(tmp_path / "nothing") in str(e.value)
    with pytest.raises(UserError, match="cifar"):
        load_task("cifar10", path=str(tmp_path / "nothing"))


def test_truncated_idx_is_rejected(tmp_path):
    write_idx(tmp_path / "x", np.zeros((4, 3, 3)), compress=False)
    raw = (tmp_path / "x").read_bytes()
    (tmp_path / "x").write_bytes(raw[:-5])
    with pytest.raises(UserError, match="truncated"):
        read_idx(tmp_path / "x")


def _cifar_batch(path, n, seed):
    rng = np.random.default_rng(seed)
    d = {b"batch_label": b"x", b"labels": list(rng.integers(0, 10, n).tolist()),
         b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8), b"filenames": [b"a"] * n}
    with open(path, "wb") as fh:
        pickle.dump(d, fh, protocol=2)


def test_cifar10_python_batches(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    for i in range(1, 4):
        _cifar_batch(root / f"data_batch_{i}", 20, i)
    _cifar_batch(root / "test_batch", 10, 9)
    t = load_task("cifar10", path=str(root))
    assert t.input_shape == (3, 32, 32)
    assert t.sizes() == (40, 20, 10)


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickles_cannot_execute_code(tmp_path):
    p = tmp_path / "data_batch_1"
    with open(p, "wb") as fh:
        pickle.dump({b"data": Evil()}, fh)
    with pytest.raises(UserError, match="refusing|not a readable"):
        safe_unpickle(p)


def test_unknown_task_and_option():
    with pytest.raises(UserError, match="unknown task"):
        load_task("mnist")
    with pytest.raises(UserError, match="unknown option"):
        load_task("digits", size=3)
