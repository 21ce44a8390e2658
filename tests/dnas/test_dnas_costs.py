"""Costs of the binarised masks equal the exact costs of the exported network."""

import pytest
import torch

from moo_nas.dnas.export import export
from moo_nas.registry import DNAS_COSTS as COSTS
from moo_nas.dnas.supernet import MaskedNet
from moo_nas.spaces import make_space

CASES = [
    ("digits-cnn", (1, 8, 8), {}),
    ("digits-cnn", (3, 40), {}),  # 1-D convolutions
    ("resnet8", (1, 12, 12), {}),
    ("dscnn", (1, 49, 10), {"formats": ["int8", "fp32"], "per_layer_formats": True}),
]
# depth options that re-wire more than the classifier head (MobileNetV1 drops blocks from the
# middle; the auto-encoder's decoder keeps its last layers), fully connected layers only
DEEP_HEADS = [("mobilenetv1", (3, 24, 24)), ("fc-autoencoder", (40,))]


@pytest.mark.parametrize("name,shape,options", CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binarised_cost_equals_exported_cost(name, shape, options, seed):
    space = make_space(name, shape, 7, **options)
    torch.manual_seed(seed)
    net = MaskedNet(space)
    with torch.no_grad():
        for p in net.mask_parameters():
            p.uniform_(0.0, 1.0)
    ex = export(net)
    module = space.build(ex.genotype)
    # exported shapes: the state dict loads strictly into the space's own module
    module.load_state_dict(ex.state_dict)
    state = net.state_archs()
    for cost, fn in COSTS.items():
        masked = float(net.cost(fn, state).detach())
        exact = float(fn(space.arch(ex.genotype)))
        assert masked == pytest.approx(exact, rel=1e-6), cost
    # and the exported network computes what the masked network computes
    x = torch.randn(3, *shape)
    net.train()
    net(torch.randn(8, *shape))  # give BatchNorm non-trivial running statistics
    net.eval()
    ex = export(net)
    module.load_state_dict(ex.state_dict)
    module.eval()
    with torch.no_grad():
        assert torch.allclose(net(x), module(x), atol=1e-5)


def test_seed_masks_export_the_seed():
    space = make_space("resnet8", (1, 8, 8), 10)
    ex = export(MaskedNet(space))
    assert ex.genotype == space.seed_genotype()


def _random_masks(name, shape, seed):
    space = make_space(name, shape, 7)
    torch.manual_seed(seed)
    net = MaskedNet(space)
    with torch.no_grad():
        for p in net.mask_parameters():
            p.uniform_(0.0, 1.0)
        net.depth_gates.theta.fill_(1.0)
        net.depth_gates.theta[1] = 0.0  # a shallow depth: width-searched layers in its head
    return space, net


@pytest.mark.parametrize("name,shape", DEEP_HEADS)
@pytest.mark.parametrize("seed", [0, 1])
def test_cost_equals_exported_cost_with_deep_heads(name, shape, seed):
    space, net = _random_masks(name, shape, seed)
    ex = export(net)
    space.build(ex.genotype).load_state_dict(ex.state_dict)
    state = net.state_archs()
    for cost, fn in COSTS.items():
        assert float(net.cost(fn, state).detach()) == pytest.approx(
            float(fn(space.arch(ex.genotype))), rel=1e-6), cost


@pytest.mark.parametrize("name,shape", DEEP_HEADS)
def test_masked_forward_equals_export_with_deep_heads(name, shape):
    space, net = _random_masks(name, shape, 0)
    ex = export(net)
    module = space.build(ex.genotype)
    net.train()
    net(torch.randn(8, *shape))  # non-trivial BatchNorm statistics
    net.eval()
    ex = export(net)
    module.load_state_dict(ex.state_dict)
    module.eval()
    x = torch.randn(3, *shape)
    with torch.no_grad():
        assert torch.allclose(net(x), module(x), atol=1e-5)
