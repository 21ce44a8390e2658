"""What a mask-based DNAS may search in a space, found by probing the space's own ``arch``.

A built-in space is defined by subtraction from its seed, so every decision variable changes
the seed's layer description in one recognisable way when moved to a smaller option:

* **channels** – the output width of one or more weight layers (conv / linear) changes; all
  those layers share one channel mask (e.g. the two inputs of a residual ``add``);
* **kernel** – the kernel of one convolution changes;
* **depth** – operations disappear (a suffix of blocks) and the network's head is re-wired;
* **format** – number formats change (left at the seed's value by the mask search).

:func:`make_plan` moves each variable one at a time, compares the resulting
:class:`~moo_nas.arch.ArchSpec` with the seed's and records the binding, so the masked network,
its costs and the export back to a genotype work for any space built this way, with no
per-space code.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..arch import ArchSpec, OpSpec
from ..errors import UserError
from ..space import Genotype, SearchSpace


@dataclass(frozen=True)
class ChannelGroup:
    """Output channels of ``ops`` (weight layers) tied to the integer variable ``variable``."""

    variable: str
    options: tuple[int, ...]
    ops: tuple[str, ...]

    @property
    def size(self) -> int:
        return self.options[-1]


@dataclass(frozen=True)
class KernelChoice:
    """Kernel size of convolution ``op`` chosen by ``variable`` among odd ``options``."""

    variable: str
    options: tuple[int, ...]
    op: str


@dataclass(frozen=True)
class DepthChoice:
    """Number of blocks kept.  ``archs[i]`` is the seed with ``variable = options[i]``."""

    variable: str
    options: tuple[int, ...]
    archs: tuple[ArchSpec, ...]


@dataclass(frozen=True)
class FormatChoice:
    """Number format of the weights/activations of ``ops`` chosen by ``variable``."""

    variable: str
    options: tuple[str, ...]
    ops: tuple[str, ...]


@dataclass(frozen=True)
class SearchPlan:
    """Everything a masked network needs to know about a space's seed."""

    space: str
    seed: Genotype
    arch: ArchSpec
    groups: tuple[ChannelGroup, ...]
    kernels: tuple[KernelChoice, ...]
    depth: DepthChoice | None
    fixed: tuple[str, ...]
    formats: tuple[FormatChoice, ...] = ()

    def group_of(self, op: str) -> ChannelGroup | None:
        for g in self.groups:
            if op in g.ops:
                return g
        return None

    def kernel_of(self, op: str) -> KernelChoice | None:
        for k in self.kernels:
            if k.op == op:
                return k
        return None


def _with(space: SearchSpace, seed: Genotype, name: str, value) -> ArchSpec:
    values = seed.to_dict()
    values[name] = value
    return space.arch(space.make(values))


def _owns_weights(op: OpSpec) -> bool:
    return op.kind in ("conv", "linear") and not op.depthwise


def make_plan(space: SearchSpace) -> SearchPlan:
    """Probe every variable of ``space`` around its seed and bind it to masks.

    Raises :class:`UserError` when a variable acts in a way a mask cannot express (e.g. a
    width that is not the layer's channel count, or several kinds of change at once).
    """
    seed = space.seed_genotype()
    arch = space.arch(seed)
    by_name = {op.name: op for op in arch.ops}
    groups, kernels, fixed, formats = [], [], [], []
    depth = None
    for var in space.variables:
        seed_value = seed[var.name]
        options = var.options
        if len(options) < 2:
            fixed.append(var.name)
            continue
        probe = _with(space, seed, var.name, options[0])
        names = [op.name for op in probe.ops]
        if set(names) != set(by_name):
            archs = tuple(_with(space, seed, var.name, o) for o in options)
            if options[-1] != seed_value or not all(isinstance(o, int) for o in options):
                raise UserError(f"depth variable {var.name!r} of space {space.name!r} must be "
                                "integers ending at the seed's value.")
            depth = DepthChoice(var.name, tuple(int(o) for o in options), archs)
            continue
        changed = [(op, by_name[op.name]) for op in probe.ops if op != by_name[op.name]]
        if not changed:
            fixed.append(var.name)
            continue
        fmt_change = any(a.weight_format != b.weight_format or a.act_format != b.act_format
                         for a, b in changed)
        kernel_change = [a for a, b in changed if a.kernel != b.kernel]
        width_change = [a for a, b in changed if a.out_channels != b.out_channels and _owns_weights(b)]
        if fmt_change and not kernel_change and not width_change:
            fixed.append(var.name)
            formats.append(FormatChoice(var.name, tuple(str(o) for o in options),
                                        tuple(a.name for a, _ in changed if a.weight_format
                                              != by_name[a.name].weight_format)))
        elif kernel_change and not width_change and len(kernel_change) == 1:
            if not all(isinstance(o, int) and o % 2 == 1 for o in options):
                raise UserError(f"kernel variable {var.name!r} must have odd integer options.")
            kernels.append(KernelChoice(var.name, tuple(int(o) for o in options),
                                        kernel_change[0].name))
        elif width_change and not kernel_change:
            ops = tuple(a.name for a in width_change)
            if any(by_name[n].out_channels != seed_value for n in ops) or any(
                    a.out_channels != options[0] for a in width_change):
                raise UserError(f"width variable {var.name!r} of space {space.name!r} is not the "
                                "channel count of its layers; the mask search cannot express it.")
            groups.append(ChannelGroup(var.name, tuple(int(o) for o in options), ops))
        else:
            raise UserError(f"variable {var.name!r} of space {space.name!r} changes several "
                            "kinds of layer attributes; the mask search cannot express it.")
    return SearchPlan(space.name, seed, arch, tuple(groups), tuple(kernels), depth, tuple(fixed),
                      tuple(formats))


def genotype_for(space: SearchSpace, plan: SearchPlan, channels: dict[str, int],
                 kernels: dict[str, int], depth: int | None) -> Genotype:
    """The genotype with the given group widths (by variable), kernels and depth; every
    other variable keeps its seed value."""
    values = plan.seed.to_dict()
    values.update(channels)
    values.update(kernels)
    if plan.depth is not None and depth is not None:
        values[plan.depth.variable] = depth
    return space.make(values)


def rename(op: OpSpec, suffix: str, renamed: set[str]) -> OpSpec:
    """Copy of ``op`` with its name/output suffixed and inputs in ``renamed`` suffixed too."""
    return replace(op, name=op.name + suffix, output=op.output + suffix,
                   inputs=tuple(t + suffix if t in renamed else t for t in op.inputs))
