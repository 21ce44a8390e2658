"""Argument parsing shared by the command modules: the parser class every command uses, the
``key=value`` flags of the commands that build networks, and parsers for ``key=value`` options
and comma-separated integers."""

from __future__ import annotations

import argparse
import json
from typing import Any, NoReturn

from ..errors import UserError


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to a flag's help unless it has no default (None/False) or
    its help already says what the default is."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        shown = not (action.default is None or action.default is False
                     or action.default == argparse.SUPPRESS)
        if action.option_strings and shown and "default" not in text.lower():
            text += " (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """The ``moo-nas`` parser (and, through ``add_subparsers``, every sub-command's): flags show
    their defaults in ``--help``, and a usage error is one line on stderr with exit status 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`.\n")


def add_build_options(p: argparse.ArgumentParser, recipe_help: str = "") -> None:
    """Add the repeatable ``KEY=VALUE`` flags of the commands that build and train networks
    (``search``, ``tabulate``): ``--space-option``, ``--task-option`` and ``--recipe``, read with
    :func:`key_values`; ``recipe_help`` ends the latter's help (e.g. the recipe's defaults)."""
    p.add_argument("--space-option", action="append", metavar="KEY=VALUE",
                   help="space option (repeatable), e.g. formats=fp32,int8")
    p.add_argument("--task-option", action="append", metavar="KEY=VALUE",
                   help="task option (repeatable), e.g. path=/data/fmnist")
    p.add_argument("--recipe", action="append", metavar="KEY=VALUE",
                   help="training recipe setting (repeatable), e.g. epochs=4" + recipe_help)


def key_values(items: list[str] | None, what: str) -> dict[str, Any]:
    """Parse ``key=value`` pairs; values are read as JSON when they parse (numbers, lists...),
    else kept as strings (the option's declared type converts them later)."""
    out: dict[str, Any] = {}
    for item in items or []:
        k, sep, v = item.partition("=")
        if not sep or not k.strip():
            raise UserError(f"{what} {item!r} must look like key=value, e.g. {what} "
                            f"{k.strip() or 'key'}=VALUE.")
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


def positive_int(text: str) -> int:
    """An argparse type for integers >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (1 or more), got {text!r}")
    return value


def int_list(example: str):
    """An argparse type for comma-separated integers (``example`` is shown on error)."""

    def parse(text: str) -> list[int]:
        try:
            out = [int(s) for s in text.split(",") if s.strip()]
        except ValueError:
            out = []
        if not out:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a comma-separated list of integers; write e.g. {example}")
        return out

    return parse
