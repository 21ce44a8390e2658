"""Calibration recovers known constants from synthetic measurements; files are plain JSON."""

import json

import numpy as np
import pytest

from moo_nas.errors import UserError
from moo_nas.hardware import calibration as cal
from moo_nas.hardware import mcu
from moo_nas.hardware.features import network_features
from moo_nas.objectives import Candidate, make_provider
from moo_nas.spaces import make_space


def _space():
    return make_space("resnet8", (3, 32, 32), 10, formats=["int8", "fp32"])


def _archs(space, n, seed=0):
    rng = np.random.default_rng(seed)
    return [space.arch(space.sample(rng)) for _ in range(n)]


def test_mcu_constants_recovered_from_synthetic_latencies():
    space = _space()
    archs = _archs(space, 60)
    truth = mcu.STM32H743.with_constants({"mac:conv:int8": 2.4, "mac:conv:fp32": 5.1,
                                          "mac:pointwise:int8": 1.2, "bytes": 0.6,
                                          "layers": 4500.0, "inference": 20000.0}, name="truth")
    seconds = [float(mcu.latency_seconds(a, truth)) for a in archs]
    fit = cal.fit_mcu_target(archs, seconds)  # starts from the default constants
    for key in ("mac:conv:int8", "mac:conv:fp32", "mac:pointwise:int8", "bytes", "layers",
                "inference"):
        assert fit.fitted[key] == pytest.approx(truth.constants()[key], rel=1e-3), key
    assert fit.mape < 1e-3
    # with 2 % multiplicative noise the MAC constants still come back within 10 %
    noisy = np.array(seconds) * np.random.default_rng(1).normal(1.0, 0.02, len(seconds))
    fit = cal.fit_mcu_target(archs, noisy)
    for key in ("mac:conv:int8", "mac:conv:fp32"):
        assert fit.fitted[key] == pytest.approx(truth.constants()[key], rel=0.1), key


def test_linear_model_recovers_synthetic_coefficients(tmp_path):
    space = _space()
    rng = np.random.default_rng(3)
    genos = [space.sample(rng) for _ in range(50)]
    coef = {"macs:conv:int8": 2e-6, "macs:conv:fp32": 5e-6, "act_bytes": 1e-4, "ops:conv": 0.03}
    samples = []
    for g in genos:
        f = network_features(space.arch(g))
        y = 0.05 + sum(c * f.get(k, 0.0) for k, c in coef.items())
        samples.append(cal.Sample(g, "", f, y, 0.0, "synthetic"))
    model = cal.fit_model(space, samples, "latency_ort_ms", "ms", "synthetic")
    got = dict(zip(model.features, model.coef))
    for k, c in coef.items():
        assert got[k] == pytest.approx(c, rel=1e-3), k
    assert model.intercept == pytest.approx(0.05, rel=1e-3)
    # JSON round trip, no pickle
    path = model.save(tmp_path / "cal.json")
    data = json.loads(path.read_text())
    assert data["format"] == cal.FILE_FORMAT and isinstance(data["coef"][0], float)
    again = cal.CalibrationModel.load(path)
    g = genos[0]
    assert again.predict(space.arch(g)) == pytest.approx(samples[0].value, rel=1e-6)


def test_calibrate_end_to_end_with_predictor_provider(tmp_path):
    space = _space()
    res = cal.calibrate(space, make_provider("mcu"), "mcu_latency_ms", k=16, seed=0)
    # the MCU model is linear in the calibration features (MACs by class and format, bytes,
    # layers), so the fit is near exact
    assert res.mape < 5 and res.r2 > 0.95
    assert res.model.stats["n_test"] == 4 and res.predict_seconds_per_net > 0
    path = res.model.save(tmp_path / "mcu_cal.json")
    prov = make_provider("calibrated", latency=str(path))
    g = space.seed_genotype()
    v = prov.compute(Candidate(space, g, space.arch(g)))["cal_latency_ms"]
    assert v.origin == "predicted" and "mcu_cal.json" in v.source
    other = make_space("digits-cnn", (1, 8, 8), 10)
    with pytest.raises(UserError, match="fitted on space 'resnet8'"):
        prov.compute(Candidate(other, other.seed_genotype(), other.arch(other.seed_genotype())))


def test_bad_calibration_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        cal.CalibrationModel.load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    with pytest.raises(UserError, match="not a moo_nas calibration file"):
        cal.CalibrationModel.load(bad)
    with pytest.raises(UserError, match="needs a calibration file"):
        make_provider("calibrated")
