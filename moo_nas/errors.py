"""Errors a user can cause.

Anything raised as :class:`UserError` is printed by the CLI as one sentence (no traceback) and
makes it exit with status 2.  Code deeper in the package raises it for bad configuration, unknown
names, missing files and impossible constraints; programming errors stay ordinary exceptions.
"""

from __future__ import annotations

import sys
from difflib import get_close_matches
from typing import Callable, Iterable


class UserError(Exception):
    """A problem with the user's input, explained in one sentence that names the fix."""


def unknown_name(kind: str, name: str, known: Iterable[str]) -> UserError:
    """Build the error for an unknown registry name, with a close-match suggestion."""
    known = sorted(known)
    close = get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return UserError(f"unknown {kind} {name!r}{hint}; choose one of: {', '.join(known)}.")


def main_or_exit(main: Callable[[], object], prog: str) -> None:
    """Run a script's ``main``; a :class:`UserError` is printed as ``prog: error: <sentence>``
    on one line and the process exits with status 2, as the ``moo-nas`` command does (for the
    scripts in ``bench/``); an integer that ``main`` returns is the exit status."""
    try:
        status = main()
    except UserError as exc:
        print(f"{prog}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        raise SystemExit(2) from None
    if isinstance(status, int) and status:
        raise SystemExit(status)
