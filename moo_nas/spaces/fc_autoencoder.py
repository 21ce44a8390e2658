"""``fc-autoencoder``: the MLPerf Tiny anomaly-detection seed (FC auto-encoder, 640 inputs)."""

from __future__ import annotations

import math

from ..arch import ArchBuilder, ArchSpec
from ..space import Genotype, IntRange, SearchSpace
from .common import FormatOptions, check_options, pop_format_options


class FCAutoencoder(SearchSpace):
    """Seed: 640-128-128-128-128-8-128-128-128-128-640 fully connected, BatchNorm folded and
    ReLU after every layer but the last; the output reconstructs the (flat) input, so its
    size is the number of input features and the task's ``num_classes`` is not used.

    Variables (at most the seed's value): ``layers`` hidden 128-wide layers kept on each side
    (1..4; the encoder keeps its first ones, the decoder its last ones); ``e<i>`` / ``d<i>``
    encoder / decoder widths; ``z`` bottleneck width; formats when the option lists several.
    """

    name = "fc-autoencoder"
    description = "MLPerf Tiny FC auto-encoder anomaly-detection seed for 640 features (5x128)"

    def _variables(self):
        check_options(self.name, self.options, ("formats", "per_layer_formats"))
        if len(self.input_shape) != 1:
            from ..errors import UserError

            raise UserError("space 'fc-autoencoder' needs flat inputs (features,), e.g. (640,) "
                            "= 5 frames x 128 mel bins.")
        fmts, per_layer = pop_format_options(self.options)
        layers = [f"e{i}" for i in range(1, 5)] + ["z"] + [f"d{i}" for i in range(1, 5)] + ["out"]
        self.fmt = FormatOptions(fmts, per_layer, layers)
        out = [IntRange("layers", 1, 4), IntRange("z", 2, 8, 2)]
        out += [IntRange(f"{s}{i}", 32, 128, 32) for s in ("e", "d") for i in range(1, 5)]
        return out + self.fmt.variables()

    def arch(self, genotype: Genotype) -> ArchSpec:
        g, n = genotype, int(genotype["layers"])
        fm = lambda layer: self.fmt.of(g, layer)  # noqa: E731
        features = math.prod(self.input_shape)
        b = ArchBuilder(features, (), fm("e1"))
        x = "input"
        names = [f"e{i}" for i in range(1, n + 1)] + ["z"] + [f"d{i}" for i in range(5 - n, 5)]
        for name in names:
            x = b.linear(name, x, int(g[name]), activation="relu", weight_format=fm(name),
                         act_format=fm(name))
        x = b.linear("out", x, features, weight_format=fm("out"), act_format=fm("out"))
        return b.finish(x)
