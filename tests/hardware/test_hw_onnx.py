"""onnxruntime latency provider on a digits-cnn genotype; the export is faithful."""

import numpy as np
import pytest
import torch

from moo_nas.errors import UserError
from moo_nas.hardware import onnx_runtime as ortmod
from moo_nas.objectives import Candidate, make_provider, provider_for
from moo_nas.spaces import make_space


def test_export_matches_torch(tmp_path):
    space = make_space("digits-cnn", (1, 8, 8), 10)
    g = space.seed_genotype()
    torch.manual_seed(0)
    module = space.build(g).eval()
    path = ortmod.export_onnx(module, space.input_shape, tmp_path / "m.onnx")
    sess = ortmod.make_session(path, threads=1)
    x = np.random.default_rng(0).standard_normal((1, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    got = sess.run(None, {"input": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_provider_measures_digits_cnn_genotype():
    assert provider_for("latency_ort_ms") == "onnxruntime"
    space = make_space("digits-cnn", (1, 8, 8), 10, formats=["int8", "fp32"])
    g = space.make({**space.seed_genotype().to_dict(), "depth": 2, "c1": 8, "k2": 3,
                    "fmt_b1": "int8"})
    cand = Candidate(space, g, space.arch(g), module=space.build(g))
    p = make_provider("onnxruntime", warmup=2, repeats=5)
    v = p.compute(cand)["latency_ort_ms"]
    assert v.origin == "measured" and 0 < v.value < 1000
    assert "batch 1, 2 warm-up, 5 repeats, median, 1 thread(s)" in v.source
    assert "float32 graph" in v.source
    assert p.cache_key() == make_provider("onnxruntime", warmup=2, repeats=5).cache_key()
    assert p.cache_key() != make_provider("onnxruntime").cache_key()
    emu = make_provider("onnxruntime", warmup=1, repeats=3, emulate_formats=True)
    assert "formats emulated" in emu.compute(cand)["latency_ort_ms"].source


def test_bad_options():
    with pytest.raises(UserError, match="statistic"):
        make_provider("onnxruntime", statistic="p99")
    with pytest.raises(UserError, match="repeats"):
        make_provider("onnxruntime", repeats=0)
