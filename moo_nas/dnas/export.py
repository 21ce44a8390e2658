"""Export a masked network as a genotype of its space plus its trained weights.

The genotype takes, per channel group, the number of kept channels (already on the space's
option grid, see :class:`~moo_nas.dnas.masks.ChannelMask`), per searchable kernel the kept
kernel size, the selected depth, and the seed's value for every other variable.  The state dict
holds the kept slices of every weight, bias and BatchNorm buffer (running statistics included:
re-initialising them destroys accuracy) and loads strictly into ``space.build(genotype)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import torch

from ..arch import ArchSpec, Number
from ..space import Genotype
from .plan import genotype_for
from .supernet import MaskedNet


@dataclass
class Exported:
    """A searched network: its genotype, layer description and trained weights."""

    genotype: Genotype
    arch: ArchSpec
    state_dict: dict[str, torch.Tensor]


def chosen(net: MaskedNet) -> tuple[dict[str, int], dict[str, int], int | None]:
    """Channel counts by variable, kernel sizes by variable and depth of the binarised masks."""
    channels = {v: int(net.channel_mask(v).hard().sum()) for v in net.channel_masks}
    kernels = {v: net.kernel_mask(v).chosen() for v in net.kernel_masks}
    depth = net.depth_gates.chosen() if net.depth_gates is not None else None
    return channels, kernels, depth


def _crop(w: torch.Tensor, k: int) -> torch.Tensor:
    """Central ``k`` taps of every kernel dimension (dims 2.. of a conv weight)."""
    for dim in range(2, w.dim()):
        start = (w.shape[dim] - k) // 2
        w = w.narrow(dim, start, k)
    return w


@torch.no_grad()
def export(net: MaskedNet) -> Exported:
    """The genotype and the state dict of the network the binarised masks describe."""
    space, plan = net.space, net.plan
    channels, kernels, depth = chosen(net)
    genotype = genotype_for(space, plan, channels, kernels, depth)
    arch = space.arch(genotype)
    source = net.sources[net.chosen_depth_index()]
    kept = {v: net.channel_mask(v).kept() for v in net.channel_masks}
    kernel_of = {k.op: kernels[k.variable] for k in plan.kernels}
    idx: dict[str, torch.Tensor] = {"input": torch.arange(int(arch.in_channels))}
    union_ops = {op.name: op for op in net.union.ops}
    seed_width: dict[str, Number] = {"input": net.union.in_channels}
    seed_width.update({op.output: op.out_channels for op in net.union.ops})
    state: dict[str, torch.Tensor] = {}
    for op in arch.ops:
        src = source[op.name]
        cin = idx[op.inputs[0]]
        group = plan.group_of(op.name)
        if op.kind == "concat":
            parts, offset = [], 0
            for t, u in zip(op.inputs, union_ops[src].inputs):
                parts.append(idx[t] + offset)
                offset += int(seed_width[u])
            cout = torch.cat(parts)
        elif op.kind == "flatten":
            n = math.prod(op.in_spatial)
            cout = (cin.unsqueeze(1) * n + torch.arange(n)).flatten()
        elif op.depthwise or op.kind in ("add", "gap", "pool", "act"):
            cout = cin
        elif group is not None:
            cout = kept[group.variable]
        else:
            cout = torch.arange(int(op.out_channels))
        idx[op.output] = cout
        if op.kind not in ("conv", "linear"):
            continue
        layer = net.net.weight_layer(src)
        w = layer.weight[cout]
        if not op.depthwise:
            w = w[:, cin]
        if op.kind == "conv" and src in kernel_of:
            w = _crop(w, kernel_of[src])
        state[f"layers.{op.name}.weight"] = w.clone()
        if layer.bias is not None:
            state[f"layers.{op.name}.bias"] = layer.bias[cout].clone()
        if op.batchnorm:
            bn = net.net.norm(src)
            for key in ("weight", "bias", "running_mean", "running_var"):
                state[f"norms.{op.name}.{key}"] = getattr(bn, key)[cout].clone()
            if bn.num_batches_tracked is not None:  # always: SpecNet tracks running stats
                state[f"norms.{op.name}.num_batches_tracked"] = bn.num_batches_tracked.clone()
    return Exported(genotype, arch, state)
