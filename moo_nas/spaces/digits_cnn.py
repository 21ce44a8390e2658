"""``digits-cnn``: a three-block CNN small enough to train on 8x8 digits in about a second."""

from __future__ import annotations

from ..arch import ArchBuilder, ArchSpec
from ..space import Choice, Genotype, IntRange, SearchSpace, Variable
from .common import FormatOptions, block_conditions, check_options, pop_format_options


class DigitsCNN(SearchSpace):
    """Seed: conv5x5(24) -> conv5x5/2(48) -> conv5x5(64) -> global pool -> linear.

    Variables: ``depth`` (blocks kept, 1..3), per block ``c<i>`` (channels) and ``k<i>`` (kernel
    1/3/5), and number formats when the ``formats`` option lists several.  Works for 2-D
    (C, H, W) and 1-D (C, L) inputs.  Block ``i``'s variables are inactive when ``depth < i``.
    """

    name = "digits-cnn"
    description = "3-block CNN for small inputs (default; 8x8 digits train in ~1 s)"
    SEED_CHANNELS = (24, 48, 64)
    STEPS = (4, 8, 8)
    STRIDES = (1, 2, 1)

    def _variables(self):
        check_options(self.name, self.options, ("formats", "per_layer_formats"))
        fmts, per_layer = pop_format_options(self.options)
        self.fmt = FormatOptions(fmts, per_layer, ["b1", "b2", "b3", "fc"])
        out: list[Variable] = [IntRange("depth", 1, 3)]
        for i, (c, s) in enumerate(zip(self.SEED_CHANNELS, self.STEPS), start=1):
            out.append(IntRange(f"c{i}", s, c, s))
            out.append(Choice(f"k{i}", (1, 3, 5)))
        return out + self.fmt.variables()

    def _conditions(self):
        return block_conditions("depth", [(i, (f"c{i}", f"k{i}", self.fmt.variable(f"b{i}")))
                                          for i in (2, 3)], 3)

    def arch(self, genotype: Genotype) -> ArchSpec:
        g = genotype
        b = ArchBuilder(self.input_shape[0], self.input_shape[1:], self.fmt.of(g, "b1"))
        x = "input"
        for i in range(1, int(g["depth"]) + 1):
            f = self.fmt.of(g, f"b{i}")
            x = b.conv(f"b{i}", x, int(g[f"c{i}"]), int(g[f"k{i}"]), self.STRIDES[i - 1],
                       weight_format=f, act_format=f)
        x = b.gap("pool", x, act_format=self.fmt.of(g, f"b{int(g['depth'])}"))
        f = self.fmt.of(g, "fc")
        x = b.linear("fc", x, self.num_classes, weight_format=f, act_format="fp32")
        return b.finish(x)
