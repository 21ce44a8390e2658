"""``dscnn``: the MLPerf Tiny keyword-spotting seed (DS-CNN, 64 channels, 4 DS blocks)."""

from __future__ import annotations

from ..arch import ArchBuilder, ArchSpec
from ..space import Choice, Genotype, IntRange, SearchSpace, Variable
from .common import FormatOptions, block_conditions, check_options, pop_format_options


class DSCNN(SearchSpace):
    """Seed: conv(10x4, stride 2, 64) then four depthwise-separable blocks (depthwise 3x3 +
    pointwise 64), global pool, linear; made for 49x10 MFCC inputs (works on any 2-D input).

    Variables: ``blocks`` kept (1..4), ``c0`` stem channels, ``c<i>`` pointwise channels and
    ``k<i>`` depthwise kernel (1 or 3) of each block, formats when the option lists several.
    Block ``i``'s variables are inactive when ``blocks < i``.
    """

    name = "dscnn"
    description = "MLPerf Tiny DS-CNN keyword-spotting seed for 49x10 inputs"

    def _variables(self):
        check_options(self.name, self.options, ("formats", "per_layer_formats"))
        if len(self.input_shape) != 3:
            from ..errors import UserError

            raise UserError("space 'dscnn' needs 2-D inputs (channels, height, width).")
        fmts, per_layer = pop_format_options(self.options)
        layers = ["stem"] + [f"dw{i}" for i in range(1, 5)] + [f"pw{i}" for i in range(1, 5)] + ["fc"]
        self.fmt = FormatOptions(fmts, per_layer, layers)
        out: list[Variable] = [IntRange("blocks", 1, 4), IntRange("c0", 8, 64, 8)]
        for i in range(1, 5):
            out += [IntRange(f"c{i}", 8, 64, 8), Choice(f"k{i}", (1, 3))]
        return out + self.fmt.variables()

    def _conditions(self):
        return block_conditions("blocks", [
            (i, (f"c{i}", f"k{i}", self.fmt.variable(f"dw{i}"), self.fmt.variable(f"pw{i}")))
            for i in (2, 3, 4)], 4)

    def arch(self, genotype: Genotype) -> ArchSpec:
        g = genotype
        fm = lambda layer: self.fmt.of(g, layer)  # noqa: E731
        b = ArchBuilder(self.input_shape[0], self.input_shape[1:], fm("stem"))
        x = b.conv("stem", "input", int(g["c0"]), (10, 4), 2,
                   weight_format=fm("stem"), act_format=fm("stem"))
        for i in range(1, int(g["blocks"]) + 1):
            x = b.conv(f"dw{i}", x, 0, int(g[f"k{i}"]), depthwise=True,
                       weight_format=fm(f"dw{i}"), act_format=fm(f"dw{i}"))
            x = b.conv(f"pw{i}", x, int(g[f"c{i}"]), 1,
                       weight_format=fm(f"pw{i}"), act_format=fm(f"pw{i}"))
        x = b.gap("pool", x, act_format=fm(f"pw{int(g['blocks'])}"))
        x = b.linear("fc", x, self.num_classes, weight_format=fm("fc"))
        return b.finish(x)
