"""``resnet8``: the MLPerf Tiny image-classification seed (ResNet-8, 16-32-64 channels)."""

from __future__ import annotations

from ..arch import ArchBuilder, ArchSpec
from ..space import Choice, Genotype, IntRange, SearchSpace
from .common import FormatOptions, block_conditions, check_options, pop_format_options


class ResNet8(SearchSpace):
    """Seed: conv3x3(16); three stacks of two 3x3 convs with a residual join (16, 32/2, 64/2,
    1x1 strided shortcut convs for the downsampling stacks); global pool; linear.

    Variables (all at most the seed's value): ``stacks`` kept (1..3); ``c1`` (stem = stack-1
    output, shared by the residual join), ``m1`` (stack-1 inner width), ``c2``/``m2``,
    ``c3``/``m3``; a kernel (1 or 3) for the stem and every stack conv; number formats when the
    ``formats`` option lists several (one per conv of the seed).  Stack ``s``'s variables
    are inactive when ``stacks < s``.
    """

    name = "resnet8"
    description = "MLPerf Tiny ResNet-8 seed (16-32-64) for 32x32 or 28x28 images"
    CONVS = ("stem", "s1a", "s1b", "s2a", "s2b", "s2s", "s3a", "s3b", "s3s", "fc")

    def _variables(self):
        check_options(self.name, self.options, ("formats", "per_layer_formats"))
        fmts, per_layer = pop_format_options(self.options)
        self.fmt = FormatOptions(fmts, per_layer, self.CONVS)
        out = [
            IntRange("stacks", 1, 3),
            IntRange("c1", 4, 16, 4), IntRange("m1", 4, 16, 4),
            IntRange("c2", 8, 32, 4), IntRange("m2", 8, 32, 4),
            IntRange("c3", 8, 64, 8), IntRange("m3", 8, 64, 8),
            Choice("k_stem", (1, 3)),
        ]
        for s in (1, 2, 3):
            out += [Choice(f"k{s}a", (1, 3)), Choice(f"k{s}b", (1, 3))]
        return out + self.fmt.variables()

    def _conditions(self):
        return block_conditions("stacks", [
            (s, (f"c{s}", f"m{s}", f"k{s}a", f"k{s}b")
             + tuple(self.fmt.variable(f"s{s}{c}") for c in "abs")) for s in (2, 3)], 3)

    def arch(self, genotype: Genotype) -> ArchSpec:
        g = genotype
        fm = lambda layer: self.fmt.of(g, layer)  # noqa: E731
        b = ArchBuilder(self.input_shape[0], self.input_shape[1:], fm("stem"))
        x = b.conv("stem", "input", int(g["c1"]), int(g["k_stem"]),
                   weight_format=fm("stem"), act_format=fm("stem"))
        for s in range(1, int(g["stacks"]) + 1):
            stride = 1 if s == 1 else 2
            y = b.conv(f"s{s}a", x, int(g[f"m{s}"]), int(g[f"k{s}a"]), stride,
                       weight_format=fm(f"s{s}a"), act_format=fm(f"s{s}a"))
            y = b.conv(f"s{s}b", y, int(g[f"c{s}"]), int(g[f"k{s}b"]), activation=None,
                       weight_format=fm(f"s{s}b"), act_format=fm(f"s{s}b"))
            if s == 1:
                short = x
            else:
                short = b.conv(f"s{s}s", x, int(g[f"c{s}"]), 1, stride, batchnorm=False,
                               activation=None, weight_format=fm(f"s{s}s"),
                               act_format=fm(f"s{s}s"))
            x = b.add(f"s{s}add", [y, short], act_format=fm(f"s{s}b"))
        x = b.gap("pool", x, act_format=fm(f"s{int(g['stacks'])}b"))
        x = b.linear("fc", x, self.num_classes, weight_format=fm("fc"))
        return b.finish(x)
