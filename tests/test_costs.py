import numpy as np
import pytest
import torch

from moo_nas import costs
from moo_nas.arch import ArchBuilder
from moo_nas.spaces import make_space


def test_hand_computed_small_network():
    b = ArchBuilder(1, (8, 8))
    x = b.conv("c1", "input", 4, 3)              # 4*1*9 weights, 8x8 out
    x = b.conv("c2", x, 8, 3, stride=2)          # 8*4*9 weights, 4x4 out
    x = b.gap("pool", x)
    x = b.linear("fc", x, 10)
    arch = b.finish(x)
    assert costs.params(arch) == 36 + 4 + 288 + 8 + 80 + 10
    assert costs.macs(arch) == 36 * 64 + 288 * 16 + 80
    assert costs.model_bytes(arch) == 4 * (36 + 4 + 288 + 8 + 80 + 10)
    # live sets: c1: input(64)+c1(256); c2: c1(256)+c2(128); pool: c2(128)+8; fc: 8+10 (floats)
    assert costs.peak_activation_bytes(arch) == 4 * (256 + 128)


def test_residual_branch_stays_live():
    b = ArchBuilder(4, (4, 4))
    a = b.conv("a", "input", 4, 3)
    c = b.conv("c", a, 4, 3)
    d = b.conv("d", c, 4, 3)
    s = b.add("s", [d, a])
    arch = b.finish(s)
    live = costs.live_bytes_per_op(arch)
    # while c and d run, 'a' (64 B... 16 floats*4 ch) is still needed by the add
    t = 4 * 16 * 4
    assert live[1] == 2 * t  # a (input of c) + c
    assert live[2] == 3 * t  # a kept alive + c + d
    assert live[3] == 3 * t  # d + a + s


@pytest.mark.parametrize("name,shape", [("digits-cnn", (1, 8, 8)), ("resnet8", (3, 32, 32)), ("dscnn", (1, 49, 10))])
def test_params_match_built_module(name, shape):
    space = make_space(name, shape, 10)
    rng = np.random.default_rng(0)
    for g in [space.seed_genotype()] + [space.sample(rng) for _ in range(5)]:
        arch = space.arch(g)
        m = space.build(g)
        n = 0
        for mod in m.modules():
            if isinstance(mod, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)):
                n += mod.weight.numel() + mod.weight.shape[0]
        assert costs.params(arch) == n
        # output shape and spatial bookkeeping agree with torch
        y = m(torch.randn(2, *shape))
        assert y.shape == (2, 10)


def test_mlperf_tiny_resnet8_seed_counts():
    space = make_space("resnet8", (3, 32, 32), 10)
    arch = space.arch(space.seed_genotype())
    # MLPerf Tiny IC reference: ~77.4 k conv/FC weights and 12.5 M MACs
    weights = sum(costs.op_weights(op) for op in arch.ops)
    assert abs(weights - 77.4e3) / 77.4e3 < 0.01
    assert abs(costs.macs(arch) - 12.5e6) / 12.5e6 < 0.01


def test_costs_are_differentiable_in_channel_counts():
    from dataclasses import replace

    space = make_space("digits-cnn", (1, 8, 8), 10)
    arch = space.arch(space.seed_genotype())
    c = torch.tensor(10.0, requires_grad=True)
    ops = list(arch.ops)
    ops[0] = replace(ops[0], out_channels=c)
    ops[1] = replace(ops[1], in_channels=c)
    a2 = replace(arch, ops=tuple(ops))
    total = costs.model_bytes(a2) + costs.peak_activation_bytes(a2) + costs.macs(a2)
    total.backward()
    assert c.grad is not None and c.grad > 0


def test_formats_change_bytes():
    space = make_space("digits-cnn", (1, 8, 8), 10, formats=["fp32", "int8"], per_layer_formats=False)
    g32 = space.make({**space.seed_genotype().to_dict(), "fmt": "fp32"})
    g8 = space.make({**space.seed_genotype().to_dict(), "fmt": "int8"})
    a32, a8 = space.arch(g32), space.arch(g8)
    w = sum(costs.op_weights(op) for op in a32.ops)
    bias = sum(costs.op_biases(op) for op in a32.ops)
    assert costs.model_bytes(a32) == 4 * (w + bias)
    assert costs.model_bytes(a8) == w + 4 * bias
    assert costs.peak_activation_bytes(a8) < costs.peak_activation_bytes(a32)
