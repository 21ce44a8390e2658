"""The masked network: a space's seed with channel, kernel and depth masks.

:class:`MaskedNet` executes the seed's :class:`~moo_nas.arch.ArchSpec` (plus one extra head
per shallower depth option, see :class:`~moo_nas.dnas.plan.DepthChoice`, unless the depth
options only skip blocks whose output has their input's shape: those are searched on the seed
alone, its consumers reading a gated mix of the block's output and input) with the same layers
as :class:`~moo_nas.arch.SpecNet` - so parameter names match ``space.build(genotype)`` - for
1-D and 2-D convolutions alike (the dimension only picks ``conv1d``/``conv2d``).

Cheap masking: channel masks are computed once per forward pass and folded into the
BatchNorm affine parameters (``gamma * m``, ``beta * m``), or into the weight and bias of a
layer without BatchNorm, so no activation-sized tensor is multiplied.  Kernel masks multiply
the (small) weight tensor.

Costs: :meth:`MaskedNet.effective_arch` rewrites a layer description with the effective channel
counts and kernel sizes as torch scalars; :meth:`MaskedNet.cost` evaluates any cost function of
an ``ArchSpec`` (e.g. :func:`moo_nas.costs.model_bytes`) on it, weighted by the depth gates.  As
masks are binary in the forward pass, this equals the exact cost of the exported network.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..arch import ArchSpec, Number, OpSpec, SpecNet, _activation, conv_forward, shape_op
from ..formats import get_format
from ..space import SearchSpace
from .loss import CostFn
from .masks import ChannelMask, DepthGates, KernelMask
from .plan import SearchPlan, make_plan, rename
from .poly import CompiledPoly, NotPolynomial, Poly

if TYPE_CHECKING:
    from .mixed_precision import PrecisionSearch


def _union(plan: SearchPlan) -> tuple[ArchSpec, list[str], list[dict[str, str]]]:
    """Seed ops followed by the head ops of every shallower depth option (suffixed ``@d``):
    an op of a depth option's description is a head op when it differs from the seed's op of
    that name or reads a head op's output.  Returns the union spec, the output tensor of each
    depth option and, per depth option, the union name of each of its ops."""
    seed = plan.arch
    same = {op.name: op.name for op in seed.ops}
    if plan.depth is None:
        return seed, [seed.output], [same]
    by_name = {op.name: op for op in seed.ops}
    extra: list[OpSpec] = []
    outputs, sources = [], []
    for d, arch in zip(plan.depth.options, plan.depth.archs):
        if d == plan.depth.options[-1]:
            outputs.append(seed.output)
            sources.append(same)
            continue
        suffix = f"@{d}"
        renamed: set[str] = set()
        names = {}
        for op in arch.ops:
            if by_name.get(op.name) != op or any(t in renamed for t in op.inputs):
                extra.append(rename(op, suffix, renamed))
                renamed.add(op.output)
                names[op.name] = op.name + suffix
            else:
                names[op.name] = op.name
        outputs.append(arch.output + suffix if arch.output in renamed else arch.output)
        sources.append(names)
    return replace(seed, ops=seed.ops + tuple(extra)), outputs, sources


class _OneHotMix(torch.autograd.Function):
    """``sum_d w[d] * x[d]`` for depth weights ``w`` that are one-hot in the forward pass
    (:class:`~moo_nas.dnas.masks.DepthGates`), without an activation-sized product or sum:
    the forward pass returns the selected tensor; the backward pass gives it the incoming
    gradient, each weight the inner product of that gradient with its tensor (what the sum's
    gradient is), and the other tensors none (their weight is 0, so the blocks they come from
    are not back-propagated through for nothing)."""

    @staticmethod
    def forward(ctx: Any, w: torch.Tensor, *xs: torch.Tensor) -> torch.Tensor:
        sel = int(torch.argmax(w))
        if float(w[sel]) != 1.0 or float(w.abs().sum()) != 1.0:
            raise ValueError("depth weights must be one-hot in the forward pass")
        ctx.sel = sel
        ctx.save_for_backward(*xs)
        return xs[sel].view_as(xs[sel])

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        xs = ctx.saved_tensors
        flat = g.reshape(-1)
        gw = (torch.stack([torch.dot(flat, x.reshape(-1)) for x in xs])
              if ctx.needs_input_grad[0] else None)
        grads: list[torch.Tensor | None] = [None] * len(xs)
        grads[ctx.sel] = g
        return (gw, *grads)


def _bypass(plan: SearchPlan) -> dict[str, tuple[str, ...]] | None:
    """For a depth variable whose options only skip blocks whose output has the shape of their
    input (the consumers of a skipped block read its input instead, nothing else changes): per
    seed tensor that some option reads past, the tensor each depth option reads in its place
    (itself where the option keeps it).  None when some option re-wires anything else (a new
    head, other widths): the masked network then carries a head per depth option."""
    if plan.depth is None:
        return None
    seed = plan.arch
    by_name = {op.name: op for op in seed.ops}
    producer = {op.output: i for i, op in enumerate(seed.ops)}
    subs = []
    for arch in plan.depth.archs:
        present = {op.name for op in arch.ops}
        sub: dict[str, str] = {}
        pairs = [(seed.output, arch.output)]
        for op in arch.ops:
            s = by_name.get(op.name)
            if s is None or len(s.inputs) != len(op.inputs) or replace(op, inputs=s.inputs) != s:
                return None
            pairs += list(zip(s.inputs, op.inputs))
        for a, b in pairs:
            if a == b:
                continue
            # ``a`` is skipped (its producer is gone) and ``b`` was computed before it
            if (a not in producer or seed.ops[producer[a]].name in present
                    or producer.get(b, -1) >= producer[a] or sub.setdefault(a, b) != b):
                return None
        subs.append(sub)
    skipped = sorted({t for sub in subs for t in sub}, key=producer.__getitem__)
    return {t: tuple(sub.get(t, t) for sub in subs) for t in skipped}


class MaskedNet(nn.Module):
    """Seed network of ``space`` with trainable search masks (see module docstring)."""

    def __init__(self, space: SearchSpace, plan: SearchPlan | None = None):
        super().__init__()
        self.space = space
        self.plan = plan or make_plan(space)
        # depth options that skip shape-preserving blocks are searched on the seed itself (the
        # consumers of a skippable block read a gated mix of its output and input); otherwise
        # every shallower option gets its own head
        self.bypass = _bypass(self.plan)
        if self.bypass is not None:
            assert self.plan.depth is not None
            same = {op.name: op.name for op in self.plan.arch.ops}
            self.union, self.exit_outputs = self.plan.arch, [self.plan.arch.output]
            self.sources = [same] * len(self.plan.depth.options)
        else:
            self.union, self.exit_outputs, self.sources = _union(self.plan)
        self.net = SpecNet(self.union)
        self.channel_masks = nn.ModuleDict({g.variable: ChannelMask(g.options)
                                            for g in self.plan.groups})
        self.kernel_masks = nn.ModuleDict({k.variable: KernelMask(k.options, len(
            self.plan.arch.op(k.op).kernel)) for k in self.plan.kernels})
        self.depth_gates = DepthGates(self.plan.depth.options) if self.plan.depth else None
        self.n_seed_ops = len(self.plan.arch.ops)
        self._exit_of = {u: i for i, names in enumerate(self.sources)
                         for u in names.values() if "@" in u}
        self._owner = {op: g.variable for g in self.plan.groups for op in g.ops}
        self._kernel = {k.op: k.variable for k in self.plan.kernels}
        # the seed op each union op copies (head copies of shallower depths are suffixed "@d";
        # they carry the same channel and kernel masks as the op they copy)
        self._base = {u: op for names in self.sources for op, u in names.items()}
        # ops of the union whose output channels follow their inputs (depthwise, weight-free)
        self._follows = {op.name for op in self.union.ops if op.depthwise or op.kind in (
            "add", "gap", "pool", "act", "flatten", "concat")}
        self._seed_width: dict[str, Number] = {"input": self.union.in_channels}
        self._seed_width.update({op.output: op.out_channels for op in self.union.ops})
        self._formats = {op.name: (get_format(op.weight_format), get_format(op.act_format))
                         for op in self.union.ops}
        self.precision: PrecisionSearch | None = None  # set by mixed_precision.attach
        self.aux_logits: list[torch.Tensor] = []
        # cost values and gradients by (names, binarised state); see costs()
        self._cost_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self._layout: tuple[list[int], list[tuple[float, np.ndarray]], int] | None = None
        # cost formulas traced into polynomials of the state, by names (None: not polynomials)
        self._polys: dict[tuple[str, ...], list[CompiledPoly] | None] = {}
        self._mask_thetas = [m.theta for m in (*self.channel_masks.values(), *self.kernel_masks.values(),
                                               *([self.depth_gates] if self.depth_gates else []))]
        self._masks_cache: tuple[tuple, tuple] | None = None
        self._one = torch.ones(1)
        # tensors to drop after each op (their last use), as SpecNet does, so the forward pass
        # holds no more activations alive than the plain seed network
        last = {t: i for i, op in enumerate(self.union.ops) for t in op.inputs}
        # a skippable block's output is mixed with its stand-ins right after it is computed
        bypass = self.bypass or {}
        self._mix = {i: (op.output, bypass[op.output])
                     for i, op in enumerate(self.union.ops) if op.output in bypass}
        for i, (_, stand_ins) in self._mix.items():
            for t in stand_ins:
                last[t] = max(last.get(t, i), i)
        keep = set(self.exit_outputs)
        self._release = [tuple({t for t in op.inputs if last[t] == i and t not in keep})
                         for i, op in enumerate(self.union.ops)]

    # ------------------------------------------------------------------ masks
    def channel_mask(self, variable: str) -> ChannelMask:
        """The channel mask of channel group ``variable``."""
        m = self.channel_masks[variable]
        assert isinstance(m, ChannelMask), variable
        return m

    def kernel_mask(self, variable: str) -> KernelMask:
        """The kernel mask of kernel variable ``variable``."""
        m = self.kernel_masks[variable]
        assert isinstance(m, KernelMask), variable
        return m

    # ------------------------------------------------------------------ parameters
    def mask_parameters(self) -> Iterator[nn.Parameter]:
        """The search parameters: masks and gates, or, with mixed precision attached, only
        the precision logits (the masks then stay where they are)."""
        if self.precision is not None:
            yield from self.precision.parameters()
            return
        for v in self.channel_masks:
            yield self.channel_mask(v).theta
        for v in self.kernel_masks:
            yield self.kernel_mask(v).theta
        if self.depth_gates is not None:
            yield self.depth_gates.theta

    def weight_parameters(self) -> Iterator[nn.Parameter]:
        return self.net.parameters()

    def set_masks_trainable(self, flag: bool) -> None:
        for p in self.mask_parameters():
            p.requires_grad_(flag)

    # ------------------------------------------------------------------ forward
    def masks(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
        """Channel masks by variable, kernel tap masks by op, depth weights (one pass)."""
        ch, kern, _, depth = self._mask_state()
        return ch, kern, depth

    def _mask_state(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor],
                                   dict[str, torch.Tensor], torch.Tensor]:
        """Channel masks by variable, kernel tap masks by op, kernel ring keeps by variable
        and depth weights.

        Computed once per state of the search parameters: reused until one of them changes
        (another tensor or its in-place version counter moved, e.g. by an optimiser step) or
        autograd is switched on or off, so the forward pass and the cost terms of one step
        share one set of mask nodes (their gradients add up as if computed twice).  A backward
        pass through the kernel or depth masks (whose autograd nodes keep tensors that the
        pass frees) also ends the reuse."""
        key = (torch.is_grad_enabled(), tuple((id(p), p._version) for p in self._mask_thetas))
        cached = self._masks_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        ch = {v: m() for v, m in self.channel_masks.items()}
        keeps = {v: self.kernel_mask(v).keeps() for v in self.kernel_masks}
        kern = {self.plan.kernels[i].op: self.kernel_mask(v).taps(keeps[v])
                for i, v in enumerate(self.kernel_masks)}
        depth = self.depth_gates() if self.depth_gates is not None else self._one
        state = (ch, kern, keeps, depth)
        self._masks_cache = (key, state)
        # the channel masks' straight-through nodes keep no tensors: reusable after a backward
        for t in (*keeps.values(), depth):
            if t.requires_grad:
                t.register_hook(self._drop_masks)
        return state

    def _drop_masks(self, grad: torch.Tensor) -> None:
        """Backward hook: forget the cached masks (their graph is being consumed)."""
        self._masks_cache = None

    def _layer_masks(self, ch: dict[str, torch.Tensor],
                     depth: torch.Tensor) -> list[torch.Tensor | None]:
        """The channel mask of each op's output (None where unmasked), in op order: its group's
        mask, its input's for ops whose channels follow their input (repeated per position
        by a flatten), the concatenation of its inputs' for a concat; a skippable block's
        output takes the depth-weighted mix of its stand-ins' masks."""
        tmask: dict[str, torch.Tensor | None] = {"input": None}
        out: list[torch.Tensor | None] = []
        for i, op in enumerate(self.union.ops):
            m: torch.Tensor | None
            if op.kind == "concat":
                parts = [tmask[t] for t in op.inputs]
                m = None if all(p is None for p in parts) else torch.cat([
                    torch.ones(int(self._seed_width[t])) if p is None else p
                    for t, p in zip(op.inputs, parts)])
            elif op.name in self._follows:
                m = tmask[op.inputs[0]]
                if m is not None and op.kind == "flatten" and op.in_spatial:
                    m = m.repeat_interleave(math.prod(op.in_spatial))
            else:
                v = self._owner.get(self._base.get(op.name, op.name))
                m = ch[v] if v is not None else None
            out.append(m)
            tmask[op.output] = m
            mix = self._mix.get(i)
            if mix is not None:  # a skippable block's output: the mix of its stand-ins'
                t, stand_ins = mix
                masks = [tmask[u] for u in stand_ins]
                m = masks[0]
                if any(mu is not m for mu in masks):
                    width = int(self._seed_width[t])
                    ones = torch.ones(width)
                    m = sum((w * (ones if mu is None else mu) for w, mu in zip(depth, masks)),
                            torch.zeros(width))
                tmask[t] = m
        return out

    def _layer_params(self, op: OpSpec, m: torch.Tensor | None, km: torch.Tensor | None
                      ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """Weight, bias, BatchNorm scale and shift of a conv or linear op with its masks
        folded in (the channel mask into the BatchNorm affine parameters, or into weight and
        bias without BatchNorm; the kernel mask into the weight) and its weight format
        applied; scale and shift are None without BatchNorm."""
        layer = self.net.conv(op.name) if op.kind == "conv" else self.net.linear(op.name)
        w: torch.Tensor = layer.weight
        bias: torch.Tensor | None = layer.bias
        if self.precision is not None:
            w = self.precision.weight(op.name, w)
        elif op.kind == "conv":
            wfmt = self._formats[op.name][0]
            if not wfmt.is_identity:
                w = wfmt.quantize(w, per_channel=True)
        if km is not None:
            w = w * km
        gamma: torch.Tensor | None = None
        beta: torch.Tensor | None = None
        if op.batchnorm:
            bn = self.net.norm(op.name)
            gamma, beta = bn.weight, bn.bias
            if m is not None:
                gamma, beta = bn.weight * m, bn.bias * m
        elif m is not None:
            w = w * m.view((-1,) + (1,) * (w.dim() - 1))
            bias = None if bias is None else bias * m
        return w, bias, gamma, beta

    def _norm(self, op: OpSpec, y: torch.Tensor, gamma: torch.Tensor | None,
              beta: torch.Tensor | None) -> torch.Tensor:
        """The op's BatchNorm with the given (masked) affine parameters."""
        bn = self.net.norm(op.name)
        if self.training and bn.num_batches_tracked is not None:
            bn.num_batches_tracked.add_(1)
        assert bn.momentum is not None  # SpecNet's BatchNorms keep torch's default momentum
        return F.batch_norm(y, bn.running_mean, bn.running_var, gamma, beta, self.training,
                            bn.momentum, bn.eps)

    def _mix_in(self, mix: tuple[str, tuple[str, ...]], depth: torch.Tensor,
                tensors: dict[str, torch.Tensor]) -> None:
        """Replace tensor ``t`` by the depth-weighted sum of what each depth option reads in
        its place (exactly one weight is 1 in the forward pass; the others still receive the
        straight-through gradient); its mask is mixed likewise by :meth:`_layer_masks`."""
        t, stand_ins = mix
        tensors[t] = _OneHotMix.apply(depth, *[tensors[u] for u in stand_ins])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ch, kern, depth = self.masks()
        if self.precision is not None:
            self.precision.refresh()
        # every masked parameter first (a burst of small operations, here and at the end of
        # the backward pass), then the layers back to back as in the plain network
        masks = self._layer_masks(ch, depth)
        params = {op.name: self._layer_params(op, masks[i], kern.get(self._base.get(op.name, op.name)))
                  for i, op in enumerate(self.union.ops) if op.kind in ("conv", "linear")}
        in_fmt = get_format(self.union.input_format)
        tensors = {"input": x if in_fmt.is_identity else in_fmt.quantize(x)}
        self.aux_logits = []
        selected = int(torch.argmax(depth))
        for i, (op, release) in enumerate(zip(self.union.ops, self._release)):
            src = tensors[op.inputs[0]]
            exit_ = self._exit_of.get(op.name)
            if exit_ is not None and exit_ != selected:
                # head of an unselected depth: features detached, so the head trains on them
                # (auxiliary loss) without disturbing the backbone; its logits still give the
                # depth gates their straight-through gradient
                src = src.detach()
            if op.kind in ("conv", "linear"):
                w, bias, gamma, beta = params[op.name]
                if op.kind == "conv":
                    y = conv_forward(op, self.net.conv(op.name), src, w, bias)
                else:
                    y = F.linear(src, w, bias)
                if op.batchnorm:
                    y = self._norm(op, y, gamma, beta)
            else:
                y = shape_op(op, [src] + [tensors[t] for t in op.inputs[1:]])
            y = _activation(op.activation, y)
            if self.precision is not None:
                y = self.precision.act(op.name, y)
            else:
                afmt = self._formats[op.name][1]
                if not afmt.is_identity:
                    y = afmt.quantize(y)
            tensors[op.output] = y
            mix = self._mix.get(i)
            if mix is not None:
                self._mix_in(mix, depth, tensors)
            for t in release:
                del tensors[t]
        if self.bypass is not None:
            return tensors[self.union.output]
        last = len(self.exit_outputs) - 1
        self.aux_logits = [tensors[n] for i, n in enumerate(self.exit_outputs)
                           if self.training and i not in (selected, last)]
        out: torch.Tensor | int = 0
        for w, name in zip(depth, self.exit_outputs):
            out = out + w * tensors[name]
        assert isinstance(out, torch.Tensor)  # there is at least one exit
        return out

    # ------------------------------------------------------------------ costs
    def effective_arch(self, arch: ArchSpec, counts: dict[str, torch.Tensor],
                       kernels: dict[str, torch.Tensor]) -> ArchSpec:
        """``arch`` with channel counts (by group variable) and kernel sizes (by op)
        replaced by the given scalars; widths of other layers follow their inputs."""
        width: dict[str, Number] = {"input": arch.in_channels}
        ops = []
        for op in arch.ops:
            cin = width[op.inputs[0]]
            cout: Number
            v = self.plan.group_of(op.name)
            if v is not None and op.kind in ("conv", "linear") and not op.depthwise:
                cout = counts[v.variable]
            elif op.depthwise or op.kind in ("add", "gap", "pool", "act"):
                cout = cin
            elif op.kind == "flatten":
                cout = cin * math.prod(op.in_spatial)
            elif op.kind == "concat":
                cout = sum(width[t] for t in op.inputs)
                cin = cout
            else:
                cout = op.out_channels
            new = replace(op, in_channels=cin, out_channels=cout,
                          groups=cin if op.depthwise else op.groups)
            if op.name in kernels:
                new = replace(new, kernel=(kernels[op.name],) * len(op.kernel))
            ops.append(new)
            width[op.output] = cout
        return replace(arch, ops=tuple(ops))

    def state_archs(self) -> tuple[list[ArchSpec], torch.Tensor]:
        """Effective descriptions of every depth option and the depth weights (STE)."""
        counts = {v: m().sum() for v, m in self.channel_masks.items()}
        kernels = {self.plan.kernels[i].op: self.kernel_mask(v).effective()
                   for i, v in enumerate(self.kernel_masks)}
        archs = self.plan.depth.archs if self.plan.depth else (self.plan.arch,)
        depth = self.depth_gates() if self.depth_gates is not None else torch.ones(1)
        return [self.effective_arch(a, counts, kernels) for a in archs], depth

    def cost(self, fn: CostFn, state: tuple[list[ArchSpec], torch.Tensor] | None = None) -> torch.Tensor:
        """Differentiable value of cost function ``fn`` of the masked network."""
        archs, depth = state if state is not None else self.state_archs()
        total: torch.Tensor | int = 0
        for w, a in zip(depth, archs):
            total = total + w * torch.as_tensor(fn(a), dtype=torch.float32)
        assert isinstance(total, torch.Tensor)  # there is at least one depth option
        return total

    def costs(self, names: tuple[str, ...] | list[str]) -> dict[str, torch.Tensor]:
        """Differentiable costs by name (see :data:`moo_nas.registry.DNAS_COSTS`); with mixed
        precision attached, its expected-bit-width costs.

        The cost formulas are evaluated on the binarised state (integer channel counts,
        kernel sizes, one-hot depth weights) only when that state changes; between changes the
        value and its gradient with respect to the state come from a cache, and the result is
        the first-order expansion ``value + grad . (state - state.detach())`` - equal in value
        and gradient to evaluating the formulas on the effective architecture, at a fraction
        of the autograd cost per step."""
        if self.precision is not None:
            return self.precision.costs(self, names)
        ch, _, keeps, depth = self._mask_state()
        # every search variable's binary vector in one tensor: channel masks, kernel ring
        # keeps, depth weights (in the order of ``_state_layout``)
        flat = torch.cat([*ch.values(), *keeps.values(), depth])
        raw = flat.detach()
        state = self._state_values(raw.cpu().numpy())
        key = (tuple(names), tuple(round(float(v), 6) for v in state))
        entry = self._cost_cache.get(key)
        if entry is None:
            if len(self._cost_cache) > 4096:
                self._cost_cache.clear()
            entry = self._cost_cache[key] = self._cost_entry(names, state)
        values, weights = entry
        # value + d cost / d flat . (flat - flat.detach()): the cached value forward, the
        # cached gradient backward, in four operations whatever the number of variables
        out = values + torch.mv(weights, flat - raw)
        return dict(zip(names, out.unbind()))

    def _state_layout(self) -> tuple[list[int], list[tuple[float, np.ndarray]], int]:
        """Lengths of the channel masks, (smallest kernel size, kernel size added per ring) of
        each kernel mask, and the number of depth weights, in the order :meth:`costs` joins
        them."""
        layout = self._layout
        if layout is None:
            lengths = [len(self.channel_mask(v).theta) for v in self.channel_masks]
            kms = [self.kernel_mask(v) for v in self.kernel_masks]
            kernels = [(float(k.options[0]), k.steps.cpu().numpy()) for k in kms]
            n_depth = len(self.plan.depth.options) if self.plan.depth else 1
            layout = self._layout = (lengths, kernels, n_depth)
        return layout

    def _state_values(self, flat: np.ndarray) -> np.ndarray:
        """Channel counts, kernel sizes and depth weights from the joined binary vector."""
        lengths, kernels, n_depth = self._state_layout()
        out, i = [], 0
        for n in lengths:
            out.append(flat[i : i + n].sum())
            i += n
        for k0, steps in kernels:
            out.append(k0 + float(flat[i : i + len(steps)] @ steps))
            i += len(steps)
        out.extend(flat[i : i + n_depth])
        return np.asarray(out, dtype=np.float32)

    def _cost_entry(self, names: tuple[str, ...] | list[str],
                    state: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Values of the cost functions ``names`` at ``state`` (channel counts, kernel sizes,
        depth weights) and their gradients, spread over the joined binary vector of
        :meth:`costs`: one row per name.

        The formulas are traced once into polynomials of the state (:mod:`.poly`: a few tensor
        operations per evaluation, sums in float64); a formula that is not a polynomial (a
        maximum, a division by a width) is evaluated on the effective architecture instead."""
        lengths, kernels, n_depth = self._state_layout()
        nc, nk = len(lengths), len(kernels)
        polys = self._cost_polys(tuple(names))
        if polys is not None:
            pairs: list[tuple[float, np.ndarray | None]] = [p.value_and_grad(state) for p in polys]
        else:
            with torch.enable_grad():
                pairs = self._traced_costs(names, state)
        values, rows = [], []
        for value, g in pairs:
            if g is None:
                g = np.zeros(len(state), dtype=np.float32)
            # d count / d mask entry = 1, d kernel size / d ring keep = that ring's step
            parts = [np.full(m, g[i], dtype=np.float32) for i, m in enumerate(lengths)]
            parts += [g[nc + j] * steps for j, (_, steps) in enumerate(kernels)]
            parts.append(g[nc + nk : nc + nk + n_depth])
            values.append(value)
            rows.append(np.concatenate(parts).astype(np.float32))
        return torch.tensor(values, dtype=torch.float32), torch.from_numpy(np.stack(rows))

    def _cost_polys(self, names: tuple[str, ...]) -> list[CompiledPoly] | None:
        """The cost formulas ``names`` as compiled polynomials of the state vector of
        :meth:`_cost_entry` (traced on first use), or None when one is not a polynomial."""
        if names not in self._polys:
            from .loss import cost_function

            nc, nk = len(self.channel_masks), len(self.kernel_masks)
            c = {v: Poly.var(i) for i, v in enumerate(self.channel_masks)}
            k = {kc.op: Poly.var(nc + j, strict=True) for j, kc in enumerate(self.plan.kernels)}
            archs = self.plan.depth.archs if self.plan.depth else (self.plan.arch,)
            try:
                eff = [self.effective_arch(a, c, k) for a in archs]  # type: ignore[arg-type]
                polys = []
                for n in names:
                    fn = cost_function(n)
                    total: Poly | float = 0.0
                    for d, a in enumerate(eff):
                        total = total + Poly.var(nc + nk + d) * fn(a)  # type: ignore[operator]
                    polys.append(CompiledPoly(total))
                self._polys[names] = polys
            except (NotPolynomial, TypeError):  # TypeError: an operation Poly does not have
                self._polys[names] = None
        return self._polys[names]

    def _traced_costs(self, names: tuple[str, ...] | list[str],
                      state: np.ndarray) -> list[tuple[float, np.ndarray | None]]:
        """Value and gradient of each cost at ``state``, through the formulas on torch
        scalars (for formulas that are not polynomials)."""
        from .loss import cost_function

        nc, nk = len(self.channel_masks), len(self.kernel_masks)
        leaf = torch.tensor(state, dtype=torch.float32, requires_grad=True)
        c = {v: leaf[i] for i, v in enumerate(self.channel_masks)}
        k = {kc.op: leaf[nc + j] for j, kc in enumerate(self.plan.kernels)}
        archs = self.plan.depth.archs if self.plan.depth else (self.plan.arch,)
        eff = [self.effective_arch(a, c, k) for a in archs]
        out: list[tuple[float, np.ndarray | None]] = []
        for n in names:
            value = self.cost(cost_function(n), (eff, leaf[nc + nk:]))
            grad, = torch.autograd.grad(value, leaf, retain_graph=True, allow_unused=True)
            out.append((float(value.detach()), None if grad is None else grad.numpy()))
        return out

    def chosen_depth_index(self) -> int:
        if self.depth_gates is None or self.plan.depth is None:
            return 0
        return self.plan.depth.options.index(self.depth_gates.chosen())
