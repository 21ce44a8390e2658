"""Registry of search spaces.

Add a space by subclassing :class:`moo_nas.space.SearchSpace` and calling :func:`register`
(built-ins are registered below).  :func:`make_space` builds one for a task's input shape.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import unknown_name
from ..space import SearchSpace
from ..byo.space import TracedSpace
from .digits_cnn import DigitsCNN
from .dscnn import DSCNN
from .resnet8 import ResNet8

SPACES: dict[str, type[SearchSpace]] = {}


def register(cls: type[SearchSpace]) -> type[SearchSpace]:
    """Register a space class under ``cls.name`` (usable as a decorator)."""
    SPACES[cls.name] = cls
    return cls


for _cls in (DigitsCNN, ResNet8, DSCNN, TracedSpace):
    register(_cls)


def get_space_class(name: str) -> type[SearchSpace]:
    if name not in SPACES:
        raise unknown_name("space", name, SPACES)
    return SPACES[name]


def make_space(name: str, input_shape: Sequence[int], num_classes: int, /,
               **options: Any) -> SearchSpace:
    """Instantiate the space ``name`` for inputs of ``input_shape`` and ``num_classes`` classes
    (positional, so a space may take an option named ``input_shape``, as ``traced`` does)."""
    return get_space_class(name)(input_shape, num_classes, **options)
