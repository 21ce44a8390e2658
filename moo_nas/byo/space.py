"""The ``traced`` search space: derived by subtraction from a user's seed network.

:func:`derive` reads a seed :class:`~moo_nas.arch.ArchSpec` (traced by
:mod:`moo_nas.byo.trace`) and finds what can be subtracted from it:

* **channel groups** - the output channels of weight layers that must stay equal share one
  variable ``c_<layer>``: layers joined by a residual addition, and a depthwise convolution's
  output with its input.  Options: ``channel_steps`` evenly spaced widths up to the seed's.
  A group stays fixed when it is the network's output, the network's input, the input or
  output of a grouped (not depthwise) convolution, joined by an addition to a concatenation
  or a flatten of several positions, or passes through an activation that is not 0 at 0
  (sigmoid: a masked channel would not vanish);
* **kernels** - ``k_<conv>``: odd square kernels 1, 3, ... up to the seed's, for convolutions
  with "same" padding (``k // 2``), so shapes are kept;
* **removable blocks** - a run of ops between two tensors every path passes through, with the
  same shape at both ends, holding a weight layer, and not producing the output, can be
  replaced by the identity; its output then shares its input's channel group (with
  ``blocks=false`` the widths stay independent).  ``blocks`` counts the removable blocks
  kept, in network order (the last ones are removed first, like the built-in depth variables);
* **number formats** - ``fmt_<layer>`` per weight layer (``formats`` option, as built-ins).

The seed genotype (every variable at its largest option) gives back the traced seed exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from ..arch import NONZERO_AT_ZERO, ArchBuilder, ArchSpec, Number, OpSpec
from ..errors import UserError
from ..space import Choice, Genotype, IntRange, SearchSpace, Variable


@dataclass(frozen=True)
class ChannelGroup:
    """Weight layers whose output widths are one variable."""

    variable: str
    size: int
    ops: tuple[str, ...]
    options: tuple[int, ...]


@dataclass(frozen=True)
class Block:
    """Ops between tensor ``start`` and tensor ``end`` (same shape) that may become identity."""

    start: str
    end: str
    ops: tuple[str, ...]


@dataclass(frozen=True)
class Derivation:
    """What the space may subtract from a seed."""

    groups: tuple[ChannelGroup, ...]
    kernels: tuple[tuple[str, tuple[int, ...]], ...]
    blocks: tuple[Block, ...]
    weight_ops: tuple[str, ...]


def _owns(op: OpSpec) -> bool:
    return op.kind in ("conv", "linear") and not op.depthwise


def width_grid(size: int, steps: int) -> tuple[int, ...]:
    """``steps`` evenly spaced widths up to ``size`` (rounded, distinct, at least 1)."""
    return tuple(sorted({max(1, round(size * i / steps)) for i in range(1, steps + 1)}))


def _groups(arch: ArchSpec, steps: int, blocks: Sequence[Block] = ()) -> list[ChannelGroup]:
    parent: dict[str, str] = {"input": "input"}

    def find(a: str) -> str:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    fixed: set[str] = {"input"}
    members: dict[str, tuple[str, ...]] = {"input": ("input",)}  # tensor -> group ids
    composite: set[str] = set()  # tensors made of several groups (concat, flatten)
    for op in arch.ops:
        src = members[op.inputs[0]]
        if _owns(op):
            parent[op.name] = op.name
            members[op.output] = (op.name,)
            if op.kind == "conv" and op.groups != 1:
                fixed.add(op.name)
                fixed.update(src)
        elif op.kind == "concat":
            members[op.output] = tuple(g for t in op.inputs for g in members[t])
            composite.add(op.output)
        elif op.kind == "flatten" and math.prod(op.in_spatial) > 1:
            members[op.output] = src
            composite.add(op.output)
        else:  # depthwise, add, gap, pool, act, flatten of one position
            members[op.output] = src
            if op.output in composite or op.inputs[0] in composite:
                composite.add(op.output)
            if op.kind == "add":
                if any(t in composite for t in op.inputs):
                    fixed.update(g for t in op.inputs for g in members[t])
                else:
                    for t in op.inputs[1:]:
                        union(members[t][0], src[0])
        if op.activation in NONZERO_AT_ZERO:
            fixed.update(members[op.output])
    fixed.update(members[arch.output])
    for blk in blocks:  # removing a block hands its input to its readers: one width for both
        if blk.start in composite or blk.end in composite:
            fixed.update(members[blk.start] + members[blk.end])
        else:
            union(members[blk.end][0], members[blk.start][0])
    fixed_roots = {find(g) for g in fixed}
    by_root: dict[str, list[OpSpec]] = {}
    for op in arch.ops:
        if _owns(op) and find(op.name) not in fixed_roots:
            by_root.setdefault(find(op.name), []).append(op)
    out = []
    for ops in by_root.values():
        size = int(ops[0].out_channels)
        grid = width_grid(size, steps)
        if len(grid) > 1:
            out.append(ChannelGroup(f"c_{ops[0].name}", size, tuple(o.name for o in ops), grid))
    return out


def _blocks(arch: ArchSpec) -> list[Block]:
    shape: dict[str, tuple[Number, tuple[int, ...]]] = {"input": (arch.in_channels, arch.in_spatial)}
    last_use: dict[str, int] = {}
    produced = {"input": -1}
    for i, op in enumerate(arch.ops):
        shape[op.output] = (op.out_channels, op.out_spatial)
        produced[op.output] = i
        for t in op.inputs:
            last_use[t] = i
    cuts = ["input"]
    for i, op in enumerate(arch.ops):
        # every later op reads only tensors produced at or after op i
        if all(last_use.get(t, -1) <= i for t, p in produced.items() if p < i):
            cuts.append(op.output)
    blocks = []
    for a, b in zip(cuts, cuts[1:]):
        ops = arch.ops[produced[a] + 1: produced[b] + 1]
        if (shape[a] == shape[b] and any(o.kind in ("conv", "linear") for o in ops)
                and b != arch.output):
            blocks.append(Block(a, b, tuple(o.name for o in ops)))
    return blocks


def derive(arch: ArchSpec, channel_steps: int = 8, kernels: bool = True,
           blocks: bool = True) -> Derivation:
    """Channel groups, kernel choices and removable blocks of a seed (see module docstring)."""
    ks = []
    if kernels:
        for op in arch.ops:
            k = op.kernel_ints[0] if op.kernel else 1
            if (op.kind == "conv" and op.padding is None and k > 1 and k % 2 == 1
                    and all(x == k for x in op.kernel_ints)):
                ks.append((op.name, tuple(range(1, k + 1, 2))))
    removable = tuple(_blocks(arch)) if blocks else ()
    return Derivation(tuple(_groups(arch, channel_steps, removable)), tuple(ks), removable,
                      tuple(op.name for op in arch.ops if op.kind in ("conv", "linear")))


def rebuild(seed: ArchSpec, widths: dict[str, int], kernels: dict[str, int],
            removed: Sequence[Block], fmt) -> ArchSpec:
    """The seed with group widths (by op), kernel sizes (by op), blocks removed and the
    number format ``fmt(layer)`` of every weight layer; shapes are recomputed."""
    dropped = {o for blk in removed for o in blk.ops}
    alias = {blk.end: blk.start for blk in removed}

    def res(t: str) -> str:
        while t in alias:
            t = alias[t]
        return t

    first = next((op.name for op in seed.ops if op.kind in ("conv", "linear")), None)
    in_fmt = fmt(first) if first else "fp32"
    b = ArchBuilder(seed.in_channels, seed.in_spatial, in_fmt)
    tfmt = {"input": in_fmt}
    for op in seed.ops:
        if op.name in dropped:
            continue
        ins = [res(t) for t in op.inputs]
        af = tfmt[ins[0]]
        if op.kind == "conv":
            cin = b.shapes[ins[0]][0]
            af = fmt(op.name)
            cout: Number
            groups: Number
            if op.depthwise:
                cout, groups = cin, cin
            else:
                cout, groups = widths.get(op.name, int(op.out_channels)), op.groups
            k = kernels.get(op.name)
            kernel = op.kernel_ints if k is None else (k,) * len(op.kernel)
            b.conv_padded(op.name, ins[0], cout, kernel, op.stride, op.padding, groups,
                          op.batchnorm, op.activation, af, af)
        elif op.kind == "linear":
            af = fmt(op.name)
            b.linear_bn(op.name, ins[0], widths.get(op.name, int(op.out_channels)),
                        op.batchnorm, op.activation, af, af)
        elif op.kind == "add":
            b.add(op.name, ins, op.activation, af)
        elif op.kind == "gap":
            b.gap(op.name, ins[0], af)
            if op.activation:
                from dataclasses import replace

                b.ops[-1] = replace(b.ops[-1], activation=op.activation)
        elif op.kind == "pool":
            b.pool(op.name, ins[0], op.mode, op.kernel_ints, op.stride, op.pads, op.activation,
                   af)
        elif op.kind == "act":
            b.act(op.name, ins[0], str(op.activation), af)
        elif op.kind == "flatten":
            b.flatten(op.name, ins[0], op.activation, af)
        elif op.kind == "concat":
            b.concat(op.name, ins, op.activation, af)
        tfmt[op.name] = af
    return b.finish(res(seed.output), **seed.meta)


class TracedSpace(SearchSpace):
    """Space derived from a user's ``torch.nn.Module`` (see module docstring).

    Options: ``seed_model`` (``path/to/file.py:Name`` or ``package.module:Name``, required;
    importing it runs the user's code), ``input_shape`` (checked against the task's),
    ``channel_steps`` (8), ``kernels`` (true), ``blocks`` (true), ``formats``,
    ``per_layer_formats`` (true)."""

    name = "traced"
    description = "derived by subtraction from your own torch module (option seed_model=FILE.py:Name)"
    OPTIONS = ("seed_model", "input_shape", "channel_steps", "kernels", "blocks", "formats",
               "per_layer_formats")

    def _variables(self) -> list[Variable]:
        # imported here: moo_nas.spaces registers this class, so importing it at module level
        # would be circular
        from ..spaces.common import FormatOptions, check_options, pop_format_options
        from .load import load_seed, parse_shape
        from .trace import trace_model

        check_options(self.name, self.options, self.OPTIONS)
        ref = self.options.get("seed_model")
        if not ref:
            raise UserError("space 'traced' needs the option seed_model=path/to/file.py:Name "
                            "(or --seed-model).")
        if "input_shape" in self.options:
            shape = parse_shape(self.options["input_shape"])
            if shape != self.input_shape:
                raise UserError(f"input shape {','.join(map(str, shape))} does not fit the "
                                f"task's inputs of shape {','.join(map(str, self.input_shape))}; "
                                "give the task's shape or a task with that shape.")
        steps = self.options.get("channel_steps", 8)
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise UserError(f"space option channel_steps must be a positive integer, got {steps!r}.")
        self.seed_arch = trace_model(load_seed(str(ref)), self.input_shape)
        out = next(op for op in self.seed_arch.ops if op.output == self.seed_arch.output)
        if out.out_spatial or int(out.out_channels) != self.num_classes:
            got = ",".join(str(int(x)) for x in (out.out_channels, *out.out_spatial))
            raise UserError(f"seed model {ref} outputs shape ({got}) per input but the task has "
                            f"{self.num_classes} classes; end the model with a layer of "
                            f"{self.num_classes} outputs.")
        self.derivation = derive(self.seed_arch, steps, bool(self.options.get("kernels", True)),
                                 bool(self.options.get("blocks", True)))
        fmts, per_layer = pop_format_options(self.options)
        self.fmt = FormatOptions(fmts, per_layer, self.derivation.weight_ops)
        d = self.derivation
        out_vars: list[Variable] = []
        if d.blocks:
            out_vars.append(IntRange("blocks", 0, len(d.blocks)))
        out_vars += [Choice(g.variable, g.options) for g in d.groups]
        out_vars += [Choice(f"k_{op}", ks) for op, ks in d.kernels]
        return out_vars + self.fmt.variables()

    def config(self) -> dict[str, Any]:
        out = super().config()
        out["seed_fingerprint"] = self.seed_arch.fingerprint()
        return out

    def arch(self, genotype: Genotype) -> ArchSpec:
        d, g = self.derivation, genotype
        widths = {op: int(g[grp.variable]) for grp in d.groups for op in grp.ops}
        kernels = {op: int(g[f"k_{op}"]) for op, _ in d.kernels}
        kept = int(g["blocks"]) if d.blocks else 0
        return rebuild(self.seed_arch, widths, kernels, d.blocks[kept:],
                       lambda layer: self.fmt.of(g, layer))
