"""Channel-wise mixed-precision search (MPS) on a :class:`~moo_nas.dnas.supernet.MaskedNet`.

Per output channel of every weight layer, a softmax (temperature ``tau``, annealed) over weight
bit-widths ``(0, 2, 4, 8)`` - 0 prunes the channel, so it is offered only where the channel
belongs to a searchable channel group, whose layers then share the choice (residual joins
stay aligned).  The effective weight is ``sum_b p_b · Q_b(w)`` with ``Q_b`` symmetric
per-channel fake quantisation (straight-through rounding).  Per layer, a softmax over
activation bit-widths ``(2, 4, 8)`` mixes per-tensor fake-quantised outputs the same way.  Both
mixtures are single autograd nodes (:mod:`moo_nas.dnas.fakequant`), so a search step costs
little more than a training step of the seed.

Costs use expected bit-widths, through the same formulas as the objectives: a layer is split
into one part per bit-width with ``out_channels`` = the expected number of channels at that
width, and :func:`moo_nas.costs.op_weight_bytes` / :func:`~moo_nas.costs.op_macs` are
evaluated on each part (``int<b>`` format), and :func:`~moo_nas.costs.op_bitops` with the
expected input activation bits (``b · E[input bits] / 64`` per MAC of the part).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import torch
import torch.nn as nn

from .. import costs
from ..arch import Number
from ..errors import UserError
from ..formats import get_format
from ..space import Genotype
from .export import Exported, export
from .fakequant import MixQuant, MixQuantChannels, levels as _levels
from .poly import CompiledPoly, NotPolynomial, Poly
from .supernet import MaskedNet

MPS_COSTS = ("model_bytes", "params", "macs", "bitops")


class PrecisionSearch(nn.Module):
    """Precision logits of a masked network; attach with :func:`attach`."""

    def __init__(self, net: MaskedNet, weight_bits: Sequence[int] = (0, 2, 4, 8),
                 act_bits: Sequence[int] = (2, 4, 8), tau: float = 5.0):
        super().__init__()
        self.weight_bits = tuple(int(b) for b in weight_bits)
        self.act_bits = tuple(int(b) for b in act_bits)
        if any(b not in (0, 2, 4, 8) for b in self.weight_bits + self.act_bits) or 0 in self.act_bits:
            raise UserError("MPS bit-widths must be among 0 (weights only), 2, 4 and 8.")
        if not any(self.weight_bits):
            raise UserError("MPS weight bit-widths need at least one of 2, 4 and 8 besides 0.")
        self.tau = float(tau)
        plan = net.plan
        self.key: dict[str, str] = {}
        self.logits = nn.ParameterDict()
        self.act_logits = nn.ParameterDict()
        self.prunable: set[str] = set()
        for op in net.union.ops[: net.n_seed_ops]:  # depth is not searched with precision
            if op.kind not in ("conv", "linear"):
                continue
            group = plan.group_of(op.name) if not op.depthwise else None
            if group is not None:
                key = "g_" + group.variable
                self.prunable.add(key)
                n = group.size
            else:
                key = "op_" + op.name
                n = int(op.out_channels)
            self.key[op.name] = key
            if key not in self.logits:
                nb = len(self.weight_bits) - (0 if key in self.prunable else int(0 in self.weight_bits))
                self.logits[key] = nn.Parameter(torch.zeros(n, nb))
            if op.output not in net.exit_outputs:
                self.act_logits[op.name] = nn.Parameter(torch.zeros(len(self.act_bits)))
        self._probs: dict[str, torch.Tensor] = {}
        self._act: dict[str, torch.Tensor] = {}
        self._probs_key: tuple | None = None
        # cost formulas traced into polynomials of the expected counts and bit-widths, by
        # (network, cost names); see _cost_polys
        self._polys: dict[tuple[int, tuple[str, ...]], list[CompiledPoly] | None] = {}
        self._act_levels = tuple(_levels(b) for b in self.act_bits)
        self._levels = {k: tuple(_levels(b) if b else 0 for b in self.bits_of(k)) for k in self.logits}
        # columns of each logits entry with a non-zero bit-width (None: all) and the
        # activation bit-widths, for the variables of the traced cost polynomials
        self._nonzero_cols = {k: None if all(self.bits_of(k)) else torch.tensor(
            [j for j, b in enumerate(self.bits_of(k)) if b]) for k in self.logits}
        self._act_widths = torch.tensor(self.act_bits, dtype=torch.float32)

    def bits_of(self, key: str) -> tuple[int, ...]:
        return self.weight_bits if key in self.prunable else tuple(b for b in self.weight_bits if b)

    def refresh(self) -> None:
        """Softmaxes of this step (called once per forward pass).

        Recomputed only when a logits tensor changed (its in-place version counter moved),
        the temperature changed or autograd was switched on or off since the last call, so the
        forward pass and the cost terms of one step share one set of softmax nodes."""
        key = (self.tau, torch.is_grad_enabled(),
               tuple((id(v), v._version) for v in self.logits.values()),
               tuple((id(v), v._version) for v in self.act_logits.values()))
        if key == self._probs_key:
            return
        self._probs = {k: torch.softmax(v / self.tau, dim=1) for k, v in self.logits.items()}
        self._act = {k: torch.softmax(v / self.tau, dim=0) for k, v in self.act_logits.items()}
        self._probs_key = key

    def weight(self, op: str, w: torch.Tensor) -> torch.Tensor:
        key = self.key.get(op)
        if key is None:
            return w
        return MixQuantChannels.apply(w, self._probs[key], self._levels[key])

    def act(self, op: str, y: torch.Tensor) -> torch.Tensor:
        probs = self._act.get(op)
        if probs is None:
            return y
        return MixQuant.apply(y, probs, self._act_levels)

    def anneal(self, factor: float) -> None:
        """Multiply the temperature by ``factor`` (e.g. once per epoch)."""
        self.tau = max(1e-3, self.tau * factor)

    # ------------------------------------------------------------------ costs
    def costs(self, net: MaskedNet, names: Sequence[str]) -> dict[str, torch.Tensor]:
        """Expected ``model_bytes``, ``params``, ``macs`` and/or ``bitops`` of the seed-depth
        network (depth is not searched together with precision).

        The formulas (:meth:`_formulas`) are polynomials in the expected channel count of each
        weight bit-width and the expected activation bit-width of each layer; they are traced
        once (:mod:`moo_nas.dnas.poly`) and evaluated per step on the vector of those
        variables (:meth:`_variables`) - the same values and gradients as running them on
        tensors, which remains the fallback for a formula that is not a polynomial."""
        bad = [n for n in names if n not in MPS_COSTS]
        if bad:
            raise UserError(f"mixed-precision search supports the costs {', '.join(MPS_COSTS)}, "
                            f"not {bad}.")
        self.refresh()
        polys = self._cost_polys(net, tuple(names))
        if polys is None:
            values = self._formulas(net, names, self._counts_of, self._act_of, torch.tensor)
            return {n: torch.as_tensor(v) for n, v in values.items()}
        x = self._variables()
        return {n: p(x).to(torch.float32) for n, p in zip(names, polys)}

    def _counts_of(self, key: str) -> list[tuple[int, Number]]:
        """Expected channel count of each non-zero weight bit-width of a logits entry."""
        per_bit = self._probs[key].sum(dim=0).unbind()
        return [(b, n) for b, n in zip(self.bits_of(key), per_bit) if b]

    def _act_of(self, op: str) -> Number | None:
        """Expected activation bit-width of layer ``op`` (None: not searched)."""
        a = self._act.get(op)
        return None if a is None else a @ torch.tensor(self.act_bits, dtype=a.dtype)

    def _variables(self) -> torch.Tensor:
        """The variables of the traced polynomials: per logits entry, the expected channel
        count of each non-zero bit-width; then per searched layer, the expected activation
        bit-width."""
        parts = []
        for key in self.logits:
            keep = self._nonzero_cols[key]
            sums = self._probs[key].sum(dim=0)
            parts.append(sums if keep is None else sums[keep])
        if self._act:
            parts.append(torch.stack(list(self._act.values())) @ self._act_widths)
        return torch.cat(parts).to(torch.float64)

    def _cost_polys(self, net: MaskedNet, names: tuple[str, ...]) -> list[CompiledPoly] | None:
        """The cost formulas of ``names`` as compiled polynomials of :meth:`_variables`
        (traced on first use), or None when one of them is not a polynomial."""
        cache_key = (id(net), names)
        if cache_key not in self._polys:
            index: dict[str, list[tuple[int, Poly]]] = {}
            i = 0
            for key in self.logits:
                index[key] = []
                for b in self.bits_of(key):
                    if b:
                        index[key].append((b, Poly.var(i)))
                        i += 1
            act: dict[str, Poly] = {}
            for op in self.act_logits:
                act[op] = Poly.var(i)
                i += 1
            try:
                traced = self._formulas(net, names, index.__getitem__, act.get, float)
                self._polys[cache_key] = [CompiledPoly(traced[n]) for n in names]  # type: ignore[arg-type]
            except NotPolynomial:
                self._polys[cache_key] = None
        return self._polys[cache_key]

    def _formulas(self, net: MaskedNet, names: Sequence[str], counts_of, act_of,
                  const) -> dict[str, Number]:
        """The costs ``names`` through :mod:`moo_nas.costs`, given the expected channel counts
        per bit-width of each logits entry (``counts_of(key)``), the expected activation
        bit-width of each layer (``act_of(op)``, None where not searched) and ``const``
        turning a constant into the same kind of number."""
        arch = net.plan.arch
        kept: dict[str, Number] = {"input": const(float(arch.in_channels))}
        act_bits: dict[str, Number] = {"input": const(float(get_format(arch.input_format).bits))}
        out: dict[str, Number] = {n: const(0.0) for n in names}
        # expected channel count per bit-width, once per logits entry (layers of a channel
        # group share one)
        counts: dict[str, list[tuple[int, Number]]] = {}
        for op in arch.ops:
            cin = kept[op.inputs[0]]
            in_bits = act_bits[op.inputs[0]]
            if op.kind in ("conv", "linear"):
                key = self.key[op.name]
                if key not in counts:
                    counts[key] = counts_of(key)
                parts = counts[key]
                cout = cin if op.depthwise else sum(n for _, n in parts)
                for b, n in parts:
                    part = replace(op, in_channels=n if op.depthwise else cin, out_channels=n,
                                   groups=n if op.depthwise else op.groups,
                                   weight_format=f"int{b}")
                    if "model_bytes" in out:
                        out["model_bytes"] = out["model_bytes"] + costs.op_weight_bytes(part)
                    if "params" in out:
                        out["params"] = out["params"] + costs.op_weights(part) + costs.op_biases(part)
                    if "bitops" in out:
                        out["bitops"] = out["bitops"] + costs.op_bitops(part, in_bits)
                if "macs" in out:
                    out["macs"] = out["macs"] + costs.op_macs(replace(
                        op, in_channels=cin, out_channels=cout, groups=cin if op.depthwise else op.groups))
            else:
                cout = cin
            kept[op.output] = cout
            a = act_of(op.name)
            act_bits[op.output] = a if a is not None else in_bits
        return out

    # ------------------------------------------------------------------ export
    def chosen_bits(self, key: str) -> torch.Tensor:
        """Most probable weight bit-width of every channel of a logits entry."""
        bits = torch.tensor(self.bits_of(key))
        return bits[self.logits[key].detach().argmax(dim=1)]


def attach(net: MaskedNet, **options) -> PrecisionSearch:
    """Turn ``net`` into a mixed-precision search network: the masks are frozen where they are
    (the seed's, unless searched before) and the 0-bit choice prunes channels instead."""
    for p in net.mask_parameters():
        p.requires_grad_(False)
    net.precision = PrecisionSearch(net, **options)
    return net.precision


@torch.no_grad()
def export_mps(net: MaskedNet) -> tuple[Exported, dict[str, int]]:
    """Export the most probable precision assignment.

    Channels whose most probable width is 0 are pruned (their group's count rounded up to the
    option grid, by probability of being kept); returns the export and, per layer, the widest
    weight bit-width among its kept channels.  When the space has number-format variables they
    are set to the narrowest ``int`` format that holds that width (else fp32 stays)."""
    ps = net.precision
    if ps is None:
        raise ValueError("export_mps needs a network with mixed precision attached (attach())")
    for g in net.plan.groups:
        key = "g_" + g.variable
        keep_p = 1 - torch.softmax(ps.logits[key] / ps.tau, dim=1)[:, 0] if 0 in ps.bits_of(key) else None
        theta = net.channel_mask(g.variable).theta
        if keep_p is None:
            continue
        keep = ps.chosen_bits(key) > 0
        theta.copy_(torch.where(keep, 0.5 + keep_p / 2, keep_p / 2))
    ex = export(net)
    layer_bits: dict[str, int] = {}
    for op in ex.arch.ops:
        if op.kind in ("conv", "linear"):
            key = ps.key[op.name]
            bits = ps.chosen_bits(key)
            group = net.plan.group_of(op.name)
            if group is not None and key in ps.prunable:
                bits = bits[net.channel_mask(group.variable).kept()]
            # a channel kept only by rounding up to the option grid gets the narrowest width
            floor = min(b for b in ps.weight_bits if b)
            layer_bits[op.name] = max(int(bits.max()) if len(bits) else 8, floor)
    if net.plan.formats:
        values = ex.genotype.to_dict()
        for f in net.plan.formats:
            need = max(layer_bits.get(o, 8) for o in f.ops)
            ints = sorted((get_format(o).bits, o) for o in f.options
                          if get_format(o).kind == "int" and get_format(o).bits >= need)
            if ints:
                values[f.variable] = ints[0][1]
        genotype: Genotype = net.space.make(values)
        ex = Exported(genotype, net.space.arch(genotype), ex.state_dict)
    return ex, layer_bits
