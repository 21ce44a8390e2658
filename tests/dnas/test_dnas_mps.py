"""Channel-wise mixed-precision search: gradients, expected costs, annealing, export."""

import pytest
import torch
import torch.nn.functional as F

from moo_nas import costs
from moo_nas.data import load_task
from moo_nas.dnas.loss import LossConfig
from moo_nas.dnas.mixed_precision import attach, export_mps
from moo_nas.dnas.search import SearchConfig, search
from moo_nas.dnas.supernet import MaskedNet
from moo_nas.errors import UserError
from moo_nas.spaces import make_space
from moo_nas.training import Recipe


def _net(formats=None):
    task = load_task("digits")
    opts = {"formats": formats, "per_layer_formats": True} if formats else {}
    torch.manual_seed(0)
    return task, MaskedNet(make_space("resnet8", task.input_shape, task.num_classes, **opts))


def test_gradient_reaches_every_precision_logit():
    task, net = _net()
    ps = attach(net)
    net.train()
    loss = F.cross_entropy(net(task.x_train[:32]), task.y_train[:32])
    c = ps.costs(net, ["model_bytes", "bitops"])
    (loss + c["model_bytes"] / 1e4 + c["bitops"] / 1e6).backward()
    for p in ps.parameters():
        assert p.grad is not None and bool(torch.all(p.grad != 0))


def test_expected_costs_match_formulas_at_one_hot_precisions():
    _, net = _net()
    ps = attach(net, tau=1e-3)
    with torch.no_grad():
        for key, p in ps.logits.items():
            p.zero_()
            p[:, ps.bits_of(key).index(8)] = 10.0  # all channels at 8 bits
    c = {k: v.detach() for k, v in ps.costs(net, ["model_bytes", "params", "macs"]).items()}
    int8 = net.plan.arch.with_formats(weight="int8")
    assert float(c["model_bytes"]) == pytest.approx(float(costs.model_bytes(int8)), rel=1e-5)
    assert float(c["params"]) == pytest.approx(float(costs.params(int8)), rel=1e-5)
    assert float(c["macs"]) == pytest.approx(float(costs.macs(int8)), rel=1e-5)


def test_pressure_lowers_expected_bits_and_export_loads():
    task, net = _net(["int2", "int4", "int8", "fp32"])
    ps = attach(net, tau=5.0)
    before = float(ps.costs(net, ["model_bytes"])["model_bytes"].detach())
    config = SearchConfig(search_epochs=1, mask_lr=0.5,
                          loss=LossConfig("model_bytes", 0.1, 20.0, "bitops", 1.0))
    # model_bytes / bitops are the MPS costs; the loss config validates names against COSTS
    search(net, task, Recipe(epochs=1, batch_size=128, lr=3e-3), config, 0)
    ps.anneal(0.5)
    assert ps.tau == pytest.approx(2.5)
    after = float(ps.costs(net, ["model_bytes"])["model_bytes"].detach())
    assert after < 0.8 * before
    ex, bits = export_mps(net)
    module = net.space.build(ex.genotype)
    module.load_state_dict(ex.state_dict)
    assert set(bits.values()) <= {2, 4, 8}
    assert all(str(ex.genotype[f"fmt_{op}"]).startswith("int") for op in bits)


def test_unsupported_mps_cost_is_a_user_error():
    _, net = _net()
    ps = attach(net)
    with pytest.raises(UserError, match="mixed-precision"):
        ps.costs(net, ["peak_act_bytes"])


def test_fused_activation_mixture_matches_composed_fake_quantisation():
    from moo_nas.dnas.fakequant import MixQuant as _MixQuant
    from moo_nas.formats import get_format

    torch.manual_seed(0)
    y = torch.randn(4, 5, 6, requires_grad=True)
    a = torch.randn(3, requires_grad=True)
    g = torch.randn(4, 5, 6)
    out = _MixQuant.apply(y, torch.softmax(a, 0), (1, 7, 127))
    (out * g).sum().backward()
    gy, ga = y.grad.clone(), a.grad.clone()
    y.grad, a.grad = None, None
    p = torch.softmax(a, 0)
    ref = sum(p[i] * get_format(f"int{b}").quantize(y) for i, b in enumerate((2, 4, 8)))
    (ref * g).sum().backward()
    assert torch.allclose(out, ref, atol=1e-6)
    assert torch.allclose(gy, y.grad, atol=1e-6) and torch.allclose(ga, a.grad, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_expected_bitops_equal_table_bitops_of_export_at_hard_choices(seed):
    """With one-hot weight and activation precisions (per layer, channels pruned in one group
    on the option grid), the search's expected bitops / model bytes equal the analytic table's
    costs of the exported network (the formulas are written once, in moo_nas.costs)."""
    space = make_space("resnet8", (1, 12, 12), 7, formats=["int2", "int4", "int8"],
                       per_layer_formats=True)
    torch.manual_seed(seed)
    net = MaskedNet(space)
    ps = attach(net, tau=1e-3)
    gen = torch.Generator().manual_seed(seed)
    chosen: dict[str, int] = {}
    with torch.no_grad():
        for key, p in ps.logits.items():
            bits = ps.bits_of(key)
            b = 8 if "stem" in key or key == "g_c1" else (2, 4, 8)[int(torch.randint(3, (1,), generator=gen))]
            chosen[key] = b
            p.fill_(-10.0)
            p[:, bits.index(b)] = 10.0
        if "g_c2" in ps.logits and 0 in ps.bits_of("g_c2"):
            ps.logits["g_c2"][:4] = -10.0  # prune 4 of 32 channels: 28 is on the option grid
            ps.logits["g_c2"][:4, 0] = 10.0
        for op, p in ps.act_logits.items():  # each layer's outputs at its weights' width
            p.fill_(-10.0)
            p[ps.act_bits.index(chosen[ps.key[op]])] = 10.0
    c = {k: float(v.detach()) for k, v in ps.costs(net, ["bitops", "model_bytes"]).items()}
    ex, _ = export_mps(net)
    arch = space.arch(ex.genotype)
    assert ex.genotype["c2"] == 28
    table = costs.ANALYTIC_COSTS
    assert c["bitops"] == pytest.approx(float(table["bitops"](arch)), rel=1e-5)
    assert c["model_bytes"] == pytest.approx(float(table["model_bytes"](arch)), rel=1e-5)
    assert len({str(ex.genotype[f"fmt_{op}"]) for op in ps.key}) > 1  # really mixed


@pytest.mark.parametrize("space", ["resnet8", "dscnn"])
def test_traced_cost_polynomials_equal_the_formulas_on_tensors(space):
    """The per-step costs come from the formulas traced into polynomials; values and
    gradients (w.r.t. every logit) equal those of running the formulas on tensors."""
    task = load_task("digits")
    torch.manual_seed(3)
    net = MaskedNet(make_space(space, task.input_shape, task.num_classes))
    ps = attach(net)
    with torch.no_grad():
        for p in ps.parameters():
            p.normal_()
    names = ["model_bytes", "params", "macs", "bitops"]
    fast = ps.costs(net, names)
    assert ps._cost_polys(net, tuple(names)) is not None  # the polynomial path really ran
    ps.refresh()
    ref = ps._formulas(net, names, ps._counts_of, ps._act_of, torch.tensor)
    params = list(ps.parameters())
    for n in names:
        assert float(fast[n].detach()) == pytest.approx(float(ref[n].detach()), rel=1e-6)
        g_fast = torch.autograd.grad(fast[n], params, retain_graph=True, allow_unused=True)
        g_ref = torch.autograd.grad(ref[n], params, retain_graph=True, allow_unused=True)
        scale = max(float(g.abs().max()) for g in g_ref if g is not None)
        for a, b in zip(g_fast, g_ref):
            a = torch.zeros_like(params[0]) if a is None else a
            b = torch.zeros_like(a) if b is None else b
            assert float((a - b).abs().max()) <= 1e-5 * scale


def test_forward_and_costs_share_one_softmax_per_step():
    """The softmaxes are computed once per state of the logits: costs after a forward reuse
    them, an optimiser step (in-place update) or a new temperature recomputes them."""
    task, net = _net()
    ps = attach(net)
    net.train()
    net(task.x_train[:4])
    probs = ps._probs
    ps.costs(net, ["bitops"])
    assert ps._probs is probs
    with torch.no_grad():
        next(iter(ps.logits.values())).add_(0.1)
    ps.costs(net, ["bitops"])
    assert ps._probs is not probs
    probs = ps._probs
    ps.anneal(0.5)
    ps.refresh()
    assert ps._probs is not probs
