"""MCU model numbers for a hand-computed layer, and its use as a differentiable cost."""

from dataclasses import replace

import pytest
import torch

from moo_nas.arch import ArchBuilder
from moo_nas.hardware import mcu
from moo_nas.objectives import Candidate, make_provider


def one_conv(cout=4):
    b = ArchBuilder(3, (8, 8), input_format="int8")
    b.conv("c", "input", cout, 3, batchnorm=True, weight_format="int8", act_format="int8")
    return b.finish("c")


def test_hand_computed_int8_conv():
    arch = one_conv()
    t = mcu.STM32H743
    # MACs 4*3*9*(8*8) = 6912; bytes: input 192 + output 256 + weights 108 + int32 biases 16
    terms = mcu.cycle_terms(arch)
    assert terms == {"inference": 1, "layers": 1, "bytes": 572.0, "mac:conv:int8": 6912}
    cycles = 6912 * 1.75 + 572 * 0.25 + 3000 + 10000
    assert mcu.cycles(arch) == pytest.approx(cycles)
    assert mcu.latency_seconds(arch) == pytest.approx(cycles / 480e6)
    assert mcu.energy_joules(arch) == pytest.approx(cycles / 480e6 * 0.45)
    assert mcu.flash_bytes(arch) == 124
    # live input + output, plus CMSIS-NN im2col scratch 2 * 3 * 9 * 2 bytes
    assert mcu.ram_bytes(arch) == 192 + 256 + 108
    assert t.flash_limit_bytes == 2 * 1024**2


def test_formats_change_cost_class():
    arch = one_conv()
    fp = arch.with_formats("fp32", "fp32")
    assert "mac:conv:fp32" in mcu.cycle_terms(fp)
    assert mcu.latency_seconds(fp) > mcu.latency_seconds(arch)
    assert mcu.format_class("e5m2") == "half" and mcu.format_class("int4") == "int4"


def test_differentiable_in_channels():
    arch = one_conv()
    c = torch.tensor(4.0, requires_grad=True)
    op = replace(arch.ops[0], out_channels=c)
    lat = mcu.latency_seconds(replace(arch, ops=(op,)))
    lat.backward()
    # d/dc: MACs 3*9*64 at 1.75 cycles + bytes (64 output + 27 weights + 4 bias) at 0.25
    assert c.grad.item() == pytest.approx((1728 * 1.75 + 95 * 0.25) / 480e6, rel=1e-5)
    assert float(lat.detach()) == pytest.approx(mcu.latency_seconds(arch), rel=1e-6)
    ram = mcu.ram_bytes(replace(arch, ops=(op,)))
    assert float(ram.detach() if hasattr(ram, 'detach') else ram) == pytest.approx(556)


def test_provider_and_constraints():
    from moo_nas.spaces import make_space

    space = make_space("resnet8", (3, 32, 32), 10, formats=["int8", "fp32"])
    g = space.seed_genotype()
    vals = make_provider("mcu").compute(Candidate(space, g, space.arch(g)))
    assert vals["mcu_latency_ms"].origin == "modelled"
    assert "stm32h743" in vals["mcu_latency_ms"].source
    assert vals["mcu_energy_mj"].value == pytest.approx(vals["mcu_latency_ms"].value * 0.45)
    flash, ram = mcu.constraint_objectives()
    assert flash.name == "flash_bytes" and flash.bound == 2 * 1024**2
    assert ram.violation(vals["ram_bytes"].value) <= 0


def test_target_file_round_trip(tmp_path):
    import json

    from moo_nas.errors import UserError

    t = mcu.STM32H743.with_constants({"mac:conv:int8": 2.0}, name="mine")
    path = tmp_path / "t.json"
    path.write_text(json.dumps(t.to_json()))
    assert mcu.get_target(str(path)) == t
    with pytest.raises(UserError, match="unknown MCU target"):
        mcu.get_target("esp32")


# ----------------------------------------------------------------------------- H7A3 fit
def test_builtin_targets_are_data_files():
    import json

    for name, target in mcu.TARGETS.items():
        data = json.loads((mcu.TARGET_DIR / f"{name}.json").read_text())
        assert mcu.McuTarget.from_json(data) == target
    assert set(mcu.TARGETS) >= {"stm32h743", "stm32h7a3"}


def test_h7a3_file_is_the_fit_and_reproduces_the_published_points():
    import json

    from moo_nas.hardware import mcu_fit

    result = mcu_fit.fit()
    target = mcu.get_target("stm32h7a3")
    assert target == mcu_fit.to_target(result)  # the data file holds what the fit gives
    assert target.provenance == "modelled, fitted to MLPerf Tiny v1.2 H7A3 results"
    recorded = json.loads((mcu.TARGET_DIR / "stm32h7a3.json").read_text())["fit"]["points"]
    consts = target.constants()
    worst = max(abs(e) for p in recorded for e in p["error_pct"])
    for point, rec in zip(mcu_fit.MLPERF_TINY_V12_H7A3, recorded):
        # through the model's own dot product with the file's constants
        cycles = sum(v * consts[k] for k, v in point.terms().items())
        lat, energy = cycles / target.clock_hz, cycles / target.clock_hz * target.active_power_w
        err = (100 * (lat / point.latency_s - 1), 100 * (energy / point.energy_j - 1))
        assert err == pytest.approx(tuple(rec["error_pct"]), abs=0.01)
        assert abs(err[0]) <= worst + 0.01 and abs(err[1]) <= worst + 0.01  # recorded to 0.001
    # the seeds run through the public API unchanged
    ic = mcu_fit.MLPERF_TINY_V12_H7A3[0]
    assert ic.scale == 1.0
    assert float(mcu.latency_seconds(ic.arch(), target)) == pytest.approx(result.latency_s(ic))
    # published power 0.12-0.135 W
    assert 0.12 <= target.active_power_w <= 0.135
    from moo_nas.spaces import make_space

    space = make_space("resnet8", (3, 32, 32), 10, formats=["int8"])
    vals = make_provider("mcu", target="stm32h7a3").compute(
        Candidate(space, space.seed_genotype(), ic.arch()))
    assert vals["mcu_latency_ms"].source.startswith(
        "modelled, fitted to MLPerf Tiny v1.2 H7A3 results")


def test_leave_one_out_is_a_real_refit():
    from moo_nas.hardware import mcu_fit

    points = mcu_fit.MLPERF_TINY_V12_H7A3
    inside = mcu_fit.fit().errors_pct()
    loo = mcu_fit.leave_one_out()
    for i, (a, b) in enumerate(zip(inside, loo)):
        assert abs(b[0]) > abs(a[0]) and abs(b[1]) > abs(a[1])
        # the held-out point's prediction is the fit on the other three
        rest = mcu_fit.fit(points[:i] + points[i + 1:])
        assert b == pytest.approx(mcu_fit.relative_errors(rest, points[i]))
        assert rest.constants != mcu_fit.fit().constants
    with pytest.raises(Exception, match="at least"):
        mcu_fit.fit(points[:1])
