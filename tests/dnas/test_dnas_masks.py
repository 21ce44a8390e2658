"""Masks: grid rounding, cumulative kernel rings, depth gates, gradient flow."""

import pytest
import torch
import torch.nn.functional as F

from moo_nas.data import load_task
from moo_nas.dnas.masks import ChannelMask, DepthGates, KernelMask, grid_ceil
from moo_nas.dnas.search import init_from_importance
from moo_nas.dnas.supernet import MaskedNet
from moo_nas.spaces import make_space


def test_channel_mask_rounds_up_to_grid_and_keeps_largest():
    m = ChannelMask((4, 8, 12, 16))
    with torch.no_grad():
        m.theta.copy_(torch.linspace(0.0, 1.0, 16))
        m.theta[8] = 0.3
        m.theta[3] = 0.49  # just below threshold, the largest of those below
    # 7 values > 0.5 (indices 9..15) -> rounded up to 8: the next largest is index 3 (0.49)
    kept = m.kept().tolist()
    assert len(kept) == 8 and 3 in kept and all(i in kept for i in range(9, 16))
    assert grid_ceil(0, (4, 8)) == 4 and grid_ceil(9, (4, 8)) == 8


def test_kernel_mask_is_cumulative_and_dimension_generic():
    for dims in (1, 2):
        k = KernelMask((1, 3, 5), dims)
        with torch.no_grad():
            k.theta.copy_(torch.tensor([0.2, 0.9]))  # inner ring off => outer ring off too
        assert k.chosen() == 1
        mask = k().detach()
        assert mask.shape == (5,) * dims and float(mask.sum()) == 1.0
        with torch.no_grad():
            k.theta.copy_(torch.tensor([0.9, 0.2]))
        assert k.chosen() == 3 and float(k().detach().sum()) == 3**dims


def test_depth_gates_select_exactly_one_option():
    g = DepthGates((1, 2, 3))
    with torch.no_grad():
        g.theta.copy_(torch.tensor([0.9, 0.1]))
    w = g()
    assert w.tolist() == [0.0, 1.0, 0.0] and g.chosen() == 2


@pytest.mark.parametrize("space_name", ["resnet8", "digits-cnn"])
def test_gradient_reaches_every_mask_parameter(space_name):
    task = load_task("digits")
    torch.manual_seed(0)
    net = MaskedNet(make_space(space_name, task.input_shape, task.num_classes))
    init_from_importance(net)
    net.train()
    loss = F.cross_entropy(net(task.x_train[:64]), task.y_train[:64])
    loss.backward()
    params = list(net.mask_parameters())
    assert len(params) == len(net.plan.groups) + len(net.plan.kernels) + 1
    for p in params:
        assert p.grad is not None and bool(torch.all(p.grad != 0)), p.shape
    # the cost terms reach them as well (energy: every channel, kernel ring and depth gate)
    net.zero_grad()
    net.costs(["macs"])["macs"].backward()
    for p in params:
        assert bool(torch.all(p.grad > 0))


@pytest.mark.parametrize("name", ["resnet8", "digits-cnn", "mobilenetv1"])
def test_cached_costs_equal_direct_costs_in_value_and_gradient(name):
    """resnet8: one kernel ring per mask; digits-cnn: two (1, 3, 5); mobilenetv1: no kernel
    masks and six depth options."""
    from moo_nas.dnas.loss import cost_function

    net = MaskedNet(make_space(name, (1, 8, 8) if name != "mobilenetv1" else (1, 32, 32), 10))
    torch.manual_seed(3)
    with torch.no_grad():
        for p in net.mask_parameters():
            p.uniform_(0.2, 1.0)
    for name in ("model_bytes", "macs", "peak_act_bytes", "mcu_latency_ms"):
        # polynomial formulas are evaluated as traced polynomials, the others on tensors: a
        # maximum (peak activations) or a branch on a kernel size (the MCU model's pointwise
        # class) is not a polynomial
        polynomial = name in ("model_bytes", "macs") or (name == "mcu_latency_ms" and not net.kernel_masks)
        assert (net._cost_polys((name,)) is not None) == polynomial, name
        net.zero_grad()
        direct = net.cost(cost_function(name))
        direct.backward()
        ref = [torch.zeros_like(p) if p.grad is None else p.grad.clone()
               for p in net.mask_parameters()]
        net.zero_grad()
        cached = net.costs([name])[name]
        cached.backward()
        assert float(cached.detach()) == pytest.approx(float(direct.detach()), rel=1e-6)
        for p, g in zip(net.mask_parameters(), ref):
            got = torch.zeros_like(p) if p.grad is None else p.grad
            assert torch.allclose(got, g, rtol=1e-5, atol=1e-6), name


def test_polynomial_refuses_branches_on_strict_variables():
    """A formula that tests a kernel size for equality is piecewise: tracing it must fail, not
    take one branch silently; widths compare by identity (depthwise detection)."""
    from moo_nas.dnas.poly import CompiledPoly, NotPolynomial, Poly

    k, c = Poly.var(0, strict=True), Poly.var(1)
    with pytest.raises(NotPolynomial):
        _ = (k * k) == 1
    with pytest.raises(NotPolynomial):
        _ = 1 != 2 * k
    assert c == c and not (c == 1) and c != Poly.var(1)
    p = CompiledPoly(3 * c * c * k + 2 * k + 5)
    value, grad = p.value_and_grad([3.0, 4.0])
    assert value == 3 * 16 * 3 + 6 + 5
    assert grad.tolist() == [3 * 16 + 2, 6 * 4 * 3]
