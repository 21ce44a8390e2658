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


@pytest.mark.parametrize("name,shape", [("resnet8", (1, 12, 12)), ("digits-cnn", (1, 8, 8))])
def test_shared_masks_give_the_gradients_of_separately_computed_masks(name, shape):
    """Forward and costs share one set of mask tensors per step; the gradients of every mask
    and weight equal those of computing the masks anew for the costs, and a second backward
    pass (parameters unchanged) recomputes the consumed masks instead of failing."""
    torch.manual_seed(0)
    space = make_space(name, shape, 7)
    net = MaskedNet(space)
    with torch.no_grad():
        for v in net.channel_masks:
            theta = net.channel_mask(v).theta
            theta.copy_(torch.rand(theta.shape) * 0.8 + 0.3)
    x = torch.randn(6, *shape)
    grads = []
    for shared in (True, False):
        net.zero_grad(set_to_none=True)
        out = net(x)
        if not shared:
            net._masks_cache = None  # the costs compute their own masks
        c = net.costs(("model_bytes", "macs"))
        loss = out.square().mean() + c["model_bytes"] * 1e-4 + c["macs"] * 1e-7
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for n in grads[0]:
        assert torch.allclose(grads[0][n], grads[1][n], rtol=1e-5, atol=1e-7), n
    # parameters unchanged: the next forward/costs/backward must not reuse consumed masks
    net(x).sum().backward()
    net.costs(("macs",))["macs"].backward()


@pytest.mark.parametrize("name,shape,options", [
    ("traced", (1, 16, 16), {"seed_model": "examples/byo_model.py:SmallNet"}),
    ("dscnn", (1, 49, 10), {}),
    ("mobilenetv1", (3, 24, 24), {}),
])
def test_skippable_blocks_are_searched_on_the_seed_without_heads(name, shape, options):
    """Depth options that only skip blocks of unchanged shape are searched on the seed network
    itself (a gated mix at the skipped blocks' output, no head per depth option): at every
    depth option the masked network computes what its export computes, with the exact costs,
    and the depth gates receive a gradient."""
    space = make_space(name, shape, 10, **options)
    torch.manual_seed(0)
    net = MaskedNet(space)
    assert net.bypass is not None and len(net.union.ops) == len(net.plan.arch.ops)
    with torch.no_grad():
        for p in net.mask_parameters():
            p.uniform_(0.0, 1.0)
    depths = net.plan.depth.options
    for i in range(len(depths)):
        with torch.no_grad():  # keep the first i gates: depth option i
            net.depth_gates.theta.copy_((torch.arange(len(depths) - 1) < i).float())
        assert net.depth_gates.chosen() == depths[i]
        net.train()
        out = net(torch.randn(8, *shape))
        out.square().mean().backward()
        assert net.depth_gates.theta.grad is not None and net.depth_gates.theta.grad.abs().sum() > 0
        net.zero_grad()
        net.eval()
        ex = export(net)
        assert ex.genotype[net.plan.depth.variable] == depths[i]
        module = space.build(ex.genotype)
        module.load_state_dict(ex.state_dict)
        module.eval()
        x = torch.randn(3, *shape)
        with torch.no_grad():
            assert torch.allclose(net(x), module(x), atol=1e-5)
        state = net.state_archs()
        for cost, fn in COSTS.items():
            assert float(net.cost(fn, state).detach()) == pytest.approx(
                float(fn(space.arch(ex.genotype))), rel=1e-6), cost


def test_one_hot_mix_has_the_gradients_of_the_weighted_sum():
    """The skippable-block mix returns the selected tensor and back-propagates what
    ``sum_d w[d] * x[d]`` would: the inner products to the weights, the gradient to the
    selected tensor, nothing (zero) to the others."""
    from moo_nas.dnas.masks import DepthGates
    from moo_nas.dnas.supernet import _OneHotMix

    torch.manual_seed(0)
    gates = DepthGates((1, 2, 3))
    with torch.no_grad():
        gates.theta.copy_(torch.tensor([0.9, 0.2]))  # keeps the first ring only: option 2
    xs = [torch.randn(4, 3, 5, 5, requires_grad=True) for _ in range(3)]
    target = torch.randn(4, 3, 5, 5)
    grads = []
    for mix in (lambda w: _OneHotMix.apply(w, *xs), lambda w: sum(wi * x for wi, x in zip(w, xs))):
        out = mix(gates())
        assert torch.equal(out, xs[1])
        ((out - target) ** 2).sum().backward()
        grads.append([gates.theta.grad.clone()] + [torch.zeros_like(x) if x.grad is None else x.grad.clone()
                                                   for x in xs])
        gates.theta.grad = None
        for x in xs:
            x.grad = None
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        _OneHotMix.apply(torch.tensor([0.5, 0.5]), *xs[:2])
