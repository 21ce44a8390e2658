"""Traced seeds: exact costs equal independent counts on the user's module, and the derived
space's structure (shared masks, depthwise, removable blocks)."""

import numpy as np
import pytest
import torch

from moo_nas import costs
from moo_nas.arch import build_module
from moo_nas.byo.count import count_module
from moo_nas.byo.space import derive, rebuild
from moo_nas.byo.trace import trace_model

from . import reference_nets as R

NETS = [(R.ResNet8, (3, 32, 32)), (R.DSCNN, (1, 49, 10)), (R.MobileNetV1, (3, 96, 96)),
        (R.AutoEncoder, (640,)), (R.TemporalCNN, (6, 100))]


@pytest.mark.parametrize("cls,shape", NETS, ids=[c.__name__ for c, _ in NETS])
def test_seed_costs_equal_independent_counts(cls, shape):
    torch.manual_seed(0)
    module = cls()
    arch = trace_model(module, shape)
    counted = count_module(module, shape)
    assert costs.params(arch) == counted.params
    assert costs.macs(arch) == counted.macs
    assert sum(op.kind in ("conv", "linear") for op in arch.ops) == counted.layers
    # the traced description computes what the user's module computes, with its weights
    net = build_module(arch).eval()
    state = {}
    for op in arch.ops:
        path = arch.meta["modules"][op.name]
        if op.kind in ("conv", "linear"):
            layer = module.get_submodule(path)
            state[f"layers.{op.name}.weight"] = layer.weight
            if net.layers[op.name].bias is not None:
                state[f"layers.{op.name}.bias"] = (layer.bias if layer.bias is not None
                                                   else torch.zeros(layer.weight.shape[0]))
    for name, bn in _batchnorms(module, arch).items():
        for key in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            state[f"norms.{name}.{key}"] = getattr(bn, key)
    net.load_state_dict(state)
    x = torch.randn(3, *shape)
    with torch.no_grad():
        assert torch.allclose(net(x), module.eval()(x), atol=1e-5)


def _batchnorms(module, arch):
    """BatchNorm module following each traced layer (the next module in registration order)."""
    names = [n for n, _ in module.named_modules()]
    out = {}
    for op in arch.ops:
        if op.batchnorm:
            path = arch.meta["modules"][op.name]
            nxt = names[names.index(path) + 1]
            out[op.name] = module.get_submodule(nxt)
    return out


def test_derived_groups_share_masks_across_residuals_and_depthwise():
    arch = trace_model(R.ResNet8(), (3, 32, 32))
    d = derive(arch)
    shared = [g for g in d.groups if "stem_0" in g.ops]
    assert len(shared) == 1 and set(shared[0].ops) == {"stem_0", "s1_b_0"}
    assert all("fc" not in g.ops for g in d.groups)  # the output layer stays
    assert [b.ops for b in d.blocks] == [("s1_a_0", "s1_b_0", "add")]
    ds = trace_model(R.DSCNN(), (1, 49, 10))
    dd = derive(ds)
    depthwise = {op.name for op in ds.ops if op.depthwise}
    assert depthwise and not any(depthwise & set(g.ops) for g in dd.groups)
    # the stem's 10x4 kernel is not square: no kernel variable; the depthwise 3x3 ones are
    assert {op for op, _ in dd.kernels} == depthwise


def test_traced_space_samples_build_and_run(tmp_path):
    from moo_nas.spaces import make_space

    src = tmp_path / "nets.py"
    src.write_text((__import__("pathlib").Path(R.__file__)).read_text())
    space = make_space("traced", (6, 100), 4, seed_model=f"{src}:TemporalCNN",
                       formats=["int8", "fp32"])
    assert space.arch(space.seed_genotype()) == space.seed_arch
    rng = np.random.default_rng(0)
    for _ in range(5):
        g = space.sample(rng)
        arch = space.arch(g)
        out = space.build(g)(torch.randn(2, 6, 100))
        assert out.shape == (2, 4)
        assert costs.params(arch) <= costs.params(space.seed_arch)


def test_removed_block_is_identity():
    arch = trace_model(R.ResNet8(), (3, 32, 32))
    d = derive(arch)
    smaller = rebuild(arch, {}, {}, d.blocks, lambda layer: "fp32")
    assert {op.name for op in smaller.ops} == {op.name for op in arch.ops} - set(d.blocks[0].ops)
    s2 = smaller.op("s2_a_0")
    assert s2.inputs == ("stem_0",)
