"""Typed options: user-given option values converted to the types a constructor declares.

Options reach a strategy, a space or an executor from TOML (already typed, but maybe a scalar
where a list is meant) or from ``key=value`` on the command line (JSON when it parses, else a
string).  :func:`convert_options` reads the annotations (or, without one, the default's type) of
the constructor's named parameters and converts each given value in one place, so every option
error names the option and the type it expects:

* ``int`` / ``float``: numbers, or strings holding one (``"8"``); an integral float is an int;
  a value that already fits is returned unchanged (an int stays an int where a float is
  declared), so the options a run is recorded with do not change;
* ``bool``: ``true``/``false`` (also ``yes``/``no``, ``on``/``off``, ``1``/``0``);
* ``str``: a string (a number is read as its text);
* ``list[X]`` / ``Sequence[X]`` / ``tuple[X, ...]``: a list, a comma-separated string
  (``0.5,0.25``) or a single value (a one-element list), each element converted to ``X``;
* ``dict``: a table (TOML) or a JSON object (command line);
* ``X | None``: ``None`` stays ``None``; unions try their members in order.

Range checks (``pop_size >= 1``) stay in the constructors; unknown option names are checked by
the callers, which know what else the object accepts.
"""

from __future__ import annotations

import collections.abc as cabc
import inspect
import math
import types
import typing
from typing import Any, Callable, Mapping

from .errors import UserError

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class _Bad(Exception):
    """A value that does not fit the type (internal: turned into a UserError)."""


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) is typing.Union or isinstance(tp, types.UnionType)


def _sequence_of(tp: Any) -> Any | None:
    """The element type if ``tp`` is a list/tuple/sequence type, else None."""
    origin = typing.get_origin(tp) or tp
    if origin in (list, tuple, cabc.Sequence, cabc.MutableSequence, typing.Sequence):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return args[0] if args else Any
    return None


def describe(tp: Any) -> str:
    """A phrase for the type ``tp`` ("an integer", "a list of numbers", ...)."""
    if _is_union(tp):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(describe(a) for a in members)
    elem = _sequence_of(tp)
    if elem is not None:
        inner = {int: "integers", float: "numbers", str: "names", bool: "true/false values"}.get(elem, "values")
        return f"a list of {inner} (e.g. [a, b] in TOML, or a,b on the command line)"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if (typing.get_origin(tp) or tp) in (dict, cabc.Mapping):
        return "a table of key = value (a JSON object on the command line)"
    return f"a {getattr(tp, '__name__', str(tp))}"


def _number(value: Any, integer: bool) -> int | float:
    if isinstance(value, bool):
        raise _Bad
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise _Bad from None
    if isinstance(value, float) and not math.isfinite(value):
        raise _Bad
    if integer:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if not isinstance(value, int):
            raise _Bad
        return value
    if not isinstance(value, (int, float)):
        raise _Bad
    return value  # an int is a valid float and is kept as given (run signatures stay the same)


def _convert(value: Any, tp: Any) -> Any:
    if tp is Any or tp is inspect.Parameter.empty or tp is None:
        return value
    if _is_union(tp):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a)
            except _Bad:
                continue
        raise _Bad
    elem = _sequence_of(tp)
    if elem is not None:
        if isinstance(value, str):
            items: list[Any] = [s.strip() for s in value.split(",") if s.strip()]
        elif isinstance(value, (list, tuple)):
            items = list(value)
        elif value is None or isinstance(value, dict):
            raise _Bad
        else:
            items = [value]
        out = [_convert(v, elem) for v in items]
        return tuple(out) if (typing.get_origin(tp) or tp) is tuple else out
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise _Bad
    if tp is int or tp is float:
        return _number(value, tp is int)
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise _Bad
    if (typing.get_origin(tp) or tp) in (dict, cabc.Mapping):
        if not isinstance(value, dict):
            raise _Bad
        return dict(value)
    return value


def convert(value: Any, tp: Any, label: str) -> Any:
    """``value`` converted to type ``tp``; a :class:`UserError` naming ``label`` (e.g.
    ``"strategy 'nsga2' option pop_size"``) and the expected type when it does not fit."""
    try:
        return _convert(value, tp)
    except _Bad:
        raise UserError(f"{label} must be {describe(tp)}, got {value!r}.") from None


def _parameters(func: Callable[..., Any], skip: tuple[str, ...]) -> dict[str, inspect.Parameter]:
    params = inspect.signature(func).parameters
    return {n: p for n, p in params.items() if n not in skip
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)}


def _hint(p: inspect.Parameter, hints: Mapping[str, Any]) -> Any:
    if p.name in hints:
        return hints[p.name]
    if p.annotation is not inspect.Parameter.empty and not isinstance(p.annotation, str):
        return p.annotation
    d = p.default  # no (resolvable) annotation: the default's type, if it is a plain one
    return type(d) if isinstance(d, (bool, int, float, str)) else Any


def option_types(func: Callable[..., Any], skip: tuple[str, ...] = ("self",)) -> dict[str, Any]:
    """Declared type of each named parameter of ``func`` (``Any`` when unknown)."""
    try:
        hints = typing.get_type_hints(func)
    except Exception:
        hints = {}
    return {n: _hint(p, hints) for n, p in _parameters(func, skip).items()}


def convert_options(func: Callable[..., Any], options: Mapping[str, Any], owner: str,
                    skip: tuple[str, ...] = ("self",)) -> dict[str, Any]:
    """``options`` with each value converted to the type ``func`` declares for it; names
    ``func`` does not declare are returned unchanged.  ``owner`` starts error messages, e.g.
    ``"strategy 'dnas'"`` gives "strategy 'dnas' option targets must be ...".
    """
    types_ = option_types(func, skip)
    return {k: convert(v, types_[k], f"{owner} option {k}") if k in types_ else v
            for k, v in options.items()}
