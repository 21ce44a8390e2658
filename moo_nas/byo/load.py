"""Import a user's seed network: ``path/to/file.py:Name`` or ``package.module:Name``.

**This runs the user's code**: importing the named file or module executes it, and the named
class or factory is called with no arguments.  That is the purpose of ``--seed-model``; nothing
else is ever imported from a path the user did not name.  Every mistake a user can make here (a
missing file, a name not in it, a class that needs arguments, an object that is not a
``torch.nn.Module``) ends in one :class:`~moo_nas.errors.UserError` sentence.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import torch.nn as nn

from ..errors import UserError


@dataclass(frozen=True)
class SeedRef:
    """Where a seed model comes from: a ``.py`` file or an importable module, and a name."""

    source: str
    name: str

    @property
    def is_file(self) -> bool:
        return self.source.endswith(".py") or "/" in self.source or "\\" in self.source

    def __str__(self) -> str:
        return f"{self.source}:{self.name}"


def parse_ref(text: str) -> SeedRef:
    """Split ``SOURCE:NAME`` (the last colon separates them, so Windows drives work)."""
    if not isinstance(text, str) or ":" not in text:
        raise UserError(f"seed model {text!r} must look like path/to/file.py:Name or "
                        "package.module:Name.")
    source, name = text.rsplit(":", 1)
    if not source or not name.isidentifier():
        raise UserError(f"seed model {text!r} must look like path/to/file.py:Name or "
                        "package.module:Name, with Name a Python identifier.")
    return SeedRef(source, name)


def _failed(what: str, exc: Exception) -> UserError:
    """The sentence for the user's code raising ``exc`` while ``what`` (e.g. "importing seed
    model file x.py") ran: the exception's type and message, no traceback."""
    return UserError(f"{what} failed: {type(exc).__name__}: {exc}.")


def _import_file(path: Path):
    """Import one file as a private module (its name derived from the resolved path)."""
    key = "moo_nas_seed_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, path)
    if spec is None or spec.loader is None:
        raise UserError(f"seed model file {path} cannot be imported as Python source.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[key]
        raise _failed(f"importing seed model file {path}", exc) from None
    return module


def _import(ref: SeedRef):
    if ref.is_file:
        path = Path(ref.source).expanduser()
        if not path.is_file():
            raise UserError(f"seed model file {ref.source} does not exist; give the path of a "
                            f".py file that defines {ref.name}.")
        return _import_file(path.resolve())
    try:
        return importlib.import_module(ref.source)
    except ImportError as exc:
        raise UserError(f"seed model module {ref.source!r} cannot be imported ({exc}); give an "
                        "importable module name or a path to a .py file.") from None
    except Exception as exc:
        raise _failed(f"importing seed model module {ref.source!r}", exc) from None


def load_seed(text: str) -> nn.Module:
    """Import ``SOURCE`` and call ``NAME()`` (a class or a factory); returns the module in
    eval mode.  Runs the user's code (see the module docstring)."""
    ref = parse_ref(text)
    module = _import(ref)
    obj = getattr(module, ref.name, None)
    if obj is None:
        public = sorted(n for n in vars(module) if not n.startswith("_")
                        and isinstance(getattr(module, n), type)
                        and issubclass(getattr(module, n), nn.Module))
        hint = f"; its nn.Module classes are: {', '.join(public)}" if public else ""
        raise UserError(f"{ref.source} has no attribute {ref.name!r}{hint}.")
    if isinstance(obj, nn.Module):
        net = obj
    elif callable(obj):
        try:
            net = obj()
        except TypeError as exc:
            raise UserError(f"seed model {ref} must be callable with no arguments ({exc}); "
                            "wrap it in a factory function that sets them.") from None
        except Exception as exc:
            raise _failed(f"building seed model {ref}", exc) from None
    else:
        raise UserError(f"seed model {ref} is neither an nn.Module class nor a factory.")
    if not isinstance(net, nn.Module):
        raise UserError(f"seed model {ref} returned {type(net).__name__}, not a "
                        "torch.nn.Module.")
    return net.eval()


def parse_shape(text: str | list | tuple) -> tuple[int, ...]:
    """``"C,H,W"``, ``"C,L"`` or ``"C"`` (or a list of ints) -> a tuple of positive ints."""
    if isinstance(text, str):
        parts = [p.strip() for p in text.replace("x", ",").split(",") if p.strip()]
    elif isinstance(text, (list, tuple)):
        parts = list(text)
    else:
        parts = []
    try:
        shape = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        shape = ()
    if not 1 <= len(shape) <= 3 or min(shape) < 1:
        raise UserError(f"input shape {text!r} must be C,H,W (images), C,L (time series) or C "
                        "(feature vectors) with positive integers, e.g. 1,8,8.")
    return shape
