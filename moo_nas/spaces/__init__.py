"""Built-in search spaces, each defined by subtraction from a seed network.

Spaces are found by name through :data:`moo_nas.registry.SPACES` (built-ins are listed there,
other packages add theirs with :func:`register` or an entry point in ``moo_nas.spaces``).
:func:`make_space` builds one for a task's input shape.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..registry import SPACES
from ..space import SearchSpace


def register(cls: type[SearchSpace]) -> type[SearchSpace]:
    """Register a space class under ``cls.name`` (usable as a decorator)."""
    SPACES.register(cls.name, cls)
    return cls


def get_space_class(name: str) -> type[SearchSpace]:
    """The space class registered as ``name`` (a :class:`UserError` if unknown)."""
    return SPACES.get(name)


def make_space(name: str, input_shape: Sequence[int], num_classes: int, /,
               **options: Any) -> SearchSpace:
    """Instantiate the space ``name`` for inputs of ``input_shape`` and ``num_classes`` classes
    (positional, so a space may take an option named ``input_shape``, as ``traced`` does)."""
    return get_space_class(name)(input_shape, num_classes, **options)
