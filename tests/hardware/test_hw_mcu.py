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
