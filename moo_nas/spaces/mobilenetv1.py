"""``mobilenetv1``: the MLPerf Tiny visual-wake-words seed (MobileNetV1 x0.25, 96x96x3)."""

from __future__ import annotations

from ..arch import ArchBuilder, ArchSpec
from ..space import Genotype, IntRange, SearchSpace
from .common import FormatOptions, check_options, pop_format_options

#: (pointwise channels, depthwise stride) of the seed's 13 depthwise-separable blocks
BLOCKS = ((16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (128, 1), (128, 1),
          (128, 1), (128, 1), (256, 2), (256, 1))
REPEATS = (7, 8, 9, 10, 11)  # the five 128-channel stride-1 blocks ``depth`` keeps a prefix of


class MobileNetV1(SearchSpace):
    """Seed: conv3x3(8, stride 2); 13 depthwise-separable blocks (depthwise 3x3 with the
    block's stride + pointwise, widths 16-32-32-64-64-128-5x128-256-256, strides 2 at blocks
    2, 4, 6 and 12); global pool; linear (MobileNetV1 width 0.25, made for 96x96x3 inputs).

    Variables (at most the seed's value): ``c0`` stem channels; ``c<i>`` pointwise channels of
    block i, in quarter steps of the seed's width; ``depth`` how many of the five 128-channel
    stride-1 blocks (7..11) are kept; number formats when the ``formats`` option lists several.
    """

    name = "mobilenetv1"
    description = "MLPerf Tiny MobileNetV1 x0.25 visual-wake-words seed for 96x96x3 images"

    def _variables(self):
        check_options(self.name, self.options, ("formats", "per_layer_formats"))
        if len(self.input_shape) != 3:
            from ..errors import UserError

            raise UserError("space 'mobilenetv1' needs image inputs (channels, height, width).")
        fmts, per_layer = pop_format_options(self.options)
        layers = ["stem"] + [f"{k}{i}" for i in range(1, 14) for k in ("dw", "pw")] + ["fc"]
        self.fmt = FormatOptions(fmts, per_layer, layers)
        out = [IntRange("c0", 2, 8, 2), IntRange("depth", 0, len(REPEATS))]
        out += [IntRange(f"c{i}", c // 4, c, c // 4) for i, (c, _) in enumerate(BLOCKS, 1)]
        return out + self.fmt.variables()

    def arch(self, genotype: Genotype) -> ArchSpec:
        g = genotype
        fm = lambda layer: self.fmt.of(g, layer)  # noqa: E731
        b = ArchBuilder(self.input_shape[0], self.input_shape[1:], fm("stem"))
        x = b.conv("stem", "input", int(g["c0"]), 3, 2, weight_format=fm("stem"),
                   act_format=fm("stem"))
        dropped = REPEATS[int(g["depth"]):]
        for i, (_, stride) in enumerate(BLOCKS, 1):
            if i in dropped:
                continue
            x = b.conv(f"dw{i}", x, 0, 3, stride, depthwise=True, weight_format=fm(f"dw{i}"),
                       act_format=fm(f"dw{i}"))
            x = b.conv(f"pw{i}", x, int(g[f"c{i}"]), 1, weight_format=fm(f"pw{i}"),
                       act_format=fm(f"pw{i}"))
        x = b.gap("pool", x, act_format=fm("pw13"))
        x = b.linear("fc", x, self.num_classes, weight_format=fm("fc"))
        return b.finish(x)
