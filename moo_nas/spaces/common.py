"""Shared pieces of the built-in spaces: the number-format decision variables."""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import UserError
from ..formats import get_format
from ..options import convert
from ..space import Choice, Condition, Genotype, Variable


class FormatOptions:
    """Number-format variables of a space.

    ``formats`` lists the formats a layer may use (validated, ordered from fewest bits to the
    seed's, so the seed keeps the widest).  With one format there is no variable; with
    ``per_layer=True`` there is one ``fmt_<layer>`` variable per layer, otherwise one ``fmt``.
    A layer's format applies to its weights and its output activations.
    """

    def __init__(self, formats: Sequence[str] | None, per_layer: bool, layers: Sequence[str]):
        formats = list(formats or ["fp32"])
        if not formats or not all(isinstance(f, str) for f in formats):
            raise UserError("space option 'formats' must be a list of format names, e.g. ['fp32', 'fp16'].")
        for f in formats:
            get_format(f)
        self.formats = tuple(sorted(dict.fromkeys(formats), key=lambda f: (get_format(f).bits, f)))
        self.per_layer = bool(per_layer)
        self.layers = tuple(layers)

    def variables(self) -> list[Variable]:
        if len(self.formats) == 1:
            return []
        if self.per_layer:
            return [Choice(f"fmt_{layer}", self.formats) for layer in self.layers]
        return [Choice("fmt", self.formats)]

    def variable(self, layer: str) -> str | None:
        """Name of the variable holding ``layer``'s format, or None when it has its own none."""
        if len(self.formats) == 1 or not self.per_layer:
            return None
        return f"fmt_{layer}"

    def of(self, genotype: Genotype, layer: str) -> str:
        if len(self.formats) == 1:
            return self.formats[0]
        if self.per_layer:
            return str(genotype[f"fmt_{layer}"])
        return str(genotype["fmt"])


def pop_format_options(options: dict[str, Any]) -> tuple[list[str] | None, bool]:
    """The ``formats`` (a list; ``fp16`` or ``fp32,fp16`` read as lists) and
    ``per_layer_formats`` options of a space, converted and type-checked."""
    formats = options.get("formats")
    if formats is not None:
        formats = convert(formats, list[str], "space option formats")
    return formats, convert(options.get("per_layer_formats", True), bool, "space option per_layer_formats")


def check_options(space: str, options: dict[str, Any], allowed: Sequence[str]) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UserError(
            f"unknown option(s) {unknown} for space {space!r}; allowed: {', '.join(allowed)}."
        )


def block_conditions(controller: str, blocks: Sequence[tuple[int, Sequence[str | None]]],
                     last: int) -> list[Condition]:
    """Conditions for spaces that keep the first ``controller`` blocks: each ``(i, names)``
    pair's variables are active only when ``controller`` is at least ``i`` (values up to
    ``last``).  Names that are None (a format variable the space lacks) are skipped."""
    return [Condition(name, controller, tuple(range(i, last + 1)))
            for i, names in blocks for name in names if name is not None]
