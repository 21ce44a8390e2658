"""Seeds of the MLPerf Tiny spaces against the reference networks' published counts."""

import pytest
import torch

from moo_nas import costs
from moo_nas.dnas.plan import make_plan
from moo_nas.errors import UserError
from moo_nas.hardware import mcu
from moo_nas.registry import SPACES
from moo_nas.spaces import make_space


def _weights(arch):
    return sum(float(costs.op_weights(op)) for op in arch.ops)


def test_mobilenetv1_seed_is_the_vww_reference():
    space = make_space("mobilenetv1", (3, 96, 96), 2)
    arch = space.arch(space.seed_genotype())
    # MLPerf Tiny VWW MobileNetV1 x0.25: 208 k conv/FC weights, 7.49 M MACs
    assert abs(_weights(arch) - 208e3) / 208e3 < 0.01
    assert abs(float(costs.macs(arch)) - 7.49e6) / 7.49e6 < 0.01
    assert sum(op.depthwise for op in arch.ops) == 13
    assert arch.op("pw13").in_spatial == (3, 3) and arch.op("fc").out_channels == 2


def test_fc_autoencoder_seed_is_the_ad_reference():
    space = make_space("fc-autoencoder", (640,), 10)
    arch = space.arch(space.seed_genotype())
    # MLPerf Tiny AD auto-encoder 640-128x4-8-128x4-640: 264 k weights, 0.26 M MACs (rounded)
    assert abs(_weights(arch) - 264e3) / 264e3 < 0.01
    assert abs(float(costs.macs(arch)) - 0.26e6) <= 0.005e6
    assert [int(op.out_channels) for op in arch.ops] == [128] * 4 + [8] + [128] * 4 + [640]
    assert arch.ops[-1].activation is None  # the reconstruction output


def test_subtraction_shrinks_and_the_networks_run():
    for name, shape in (("mobilenetv1", (3, 96, 96)), ("fc-autoencoder", (640,))):
        space = make_space(name, shape, 2)
        small = space.decode([0] * len(space.variables))
        seed = space.seed_genotype()
        assert costs.macs(space.arch(small)) < costs.macs(space.arch(seed))
        x = torch.randn(2, *shape)
        out = space.build(small)(x)
        assert out.shape == ((2, 2) if name == "mobilenetv1" else (2, 640))
    ae = make_space("fc-autoencoder", (640,), 2)
    two = ae.arch(ae.make({**ae.seed_genotype().to_dict(), "layers": 2}))
    assert [op.name for op in two.ops] == ["e1", "e2", "z", "d3", "d4", "out"]
    mb = make_space("mobilenetv1", (3, 96, 96), 2)
    shallow = mb.arch(mb.make({**mb.seed_genotype().to_dict(), "depth": 0}))
    assert "dw7" not in [op.name for op in shallow.ops] and "dw12" in [op.name for op in shallow.ops]


def test_registered_costed_modelled_and_maskable():
    assert {"mobilenetv1", "fc-autoencoder"} <= set(SPACES)
    h7a3 = mcu.get_target("stm32h7a3")
    for name, shape in (("mobilenetv1", (3, 96, 96)), ("fc-autoencoder", (640,))):
        space = make_space(name, shape, 2, formats=["int8", "fp32"], per_layer_formats=False)
        arch = space.arch(space.make({**space.seed_genotype().to_dict(), "fmt": "int8"}))
        assert float(mcu.latency_seconds(arch, h7a3)) > 0 and float(mcu.ram_bytes(arch)) > 0
        for cost in costs.ANALYTIC_COSTS.values():
            assert float(cost(arch)) > 0
        plan = make_plan(space)
        assert plan.groups and plan.depth is not None


def test_bad_input_shapes_are_user_errors():
    with pytest.raises(UserError, match="flat inputs"):
        make_space("fc-autoencoder", (5, 128), 2)
    with pytest.raises(UserError, match="image inputs"):
        make_space("mobilenetv1", (640,), 2)
