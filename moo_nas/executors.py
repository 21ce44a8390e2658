"""Executors run a batch of evaluations and yield results as they finish.

:class:`Executor` is the extension point (a Ray executor lives in :mod:`moo_nas.ray_executor`
when Ray is installed).  :class:`LocalExecutor` evaluates in this process, one at a time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Iterator, Sequence


class Executor(ABC):
    """Runs ``fn(item)`` for each item; yields ``(index, result)`` in completion order."""

    name: str = "executor"

    @abstractmethod
    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Evaluate every item; the caller stores each result as soon as it is yielded."""

    def close(self) -> None:
        """Release workers (called once by the owner when the search ends)."""

    def describe(self) -> str:
        return self.name


class LocalExecutor(Executor):
    """Sequential, in-process execution (the default)."""

    name = "local"

    def map_unordered(self, fn, items):
        for i, item in enumerate(items):
            yield i, fn(item)


def make_executor(name: str, **options: Any) -> Executor:
    """Executor by name from :data:`moo_nas.registry.EXECUTORS` (``local``, ``ray`` with options
    address, num_cpus, ...)."""
    from .errors import UserError
    from .registry import EXECUTORS

    if name == "ray":
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            raise UserError(f"the ray executor needs Ray: pip install 'moo-nas[ray]' ({exc}).") from None
    cls = EXECUTORS.get(name)
    if name == "local" and options:
        raise UserError(f"the local executor takes no options, got {sorted(options)}.")
    return cls(**options)
