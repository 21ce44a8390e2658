"""Argument parsers shared by the command modules."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import UserError


def key_values(items: list[str] | None, what: str) -> dict[str, Any]:
    """Parse ``key=value`` pairs; values are read as JSON when they parse (numbers, lists...)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"{what} {item!r} must look like key=value.")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


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
