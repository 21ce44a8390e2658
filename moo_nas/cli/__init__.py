"""The ``moo-nas`` command.

Each command group is a module of this package with ``register(subparsers)``; add a module's
name to :data:`COMMAND_MODULES` to plug it in.  A :class:`~moo_nas.errors.UserError` ends the
command with its one-sentence message on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module
from typing import Sequence

from ..errors import UserError

COMMAND_MODULES: list[str] = [
    "moo_nas.cli.core",
    "moo_nas.cli.tabulate",
    "moo_nas.cli.hardware",
    "moo_nas.cli.surrogates",
    "moo_nas.cli.devices",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
        print(f"moo-nas: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("moo-nas: interrupted; every finished evaluation is stored — run the same command "
              "again to resume.", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
