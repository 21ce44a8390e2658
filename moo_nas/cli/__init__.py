"""The ``moo-nas`` command.

Each command group is a module with ``register(subparsers)``; add the module's name to
:data:`COMMAND_MODULES` to plug it in (plug-in packages keep their commands with them, e.g.
``surrogates.cli``).  A :class:`~moo_nas.errors.UserError` ends the command with its
one-sentence message on one line of stderr and exit status 2; so does a usage error (see
:class:`~moo_nas.cli.args.Parser`).
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module
from typing import Sequence

from ..errors import UserError
from .args import Parser

COMMAND_MODULES: list[str] = [
    "moo_nas.cli.core",
    "moo_nas.cli.tabulate",
    "moo_nas.cli.hardware",
    "surrogates.cli",
    "moo_nas.cli.byo",
    "moo_nas.cli.devices",
]


def build_parser() -> argparse.ArgumentParser:
    """The ``moo-nas`` parser with every command module's sub-commands."""
    parser = Parser(
        prog="moo-nas",
        description="Hardware-aware multi-objective NAS: run and compare search strategies on one "
                    "space with the same measured and modelled hardware objectives.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
        return 0 if rc is None else int(rc)
    except UserError as exc:
        print(f"moo-nas: error: {' '.join(str(exc).split())}", file=sys.stderr)  # one line
        return 2
    except BrokenPipeError:  # output piped into a command that stopped reading (| head)
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("moo-nas: interrupted; every finished evaluation is stored — run the same command "
              "again to resume.", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
