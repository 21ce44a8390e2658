"""Checks on names and output paths, made before any work so a bad path fails in one sentence.

Every command that writes something (a store, a report folder, a CSV or JSON file) asks here
first whether it *could* write it: the checks create nothing and touch nothing, they only look
at what exists.  The rules:

* an experiment name is a name, not a path: letters, digits and ``-_.``, at most
  :data:`MAX_NAME` characters, not ``.`` or ``..``;
* a folder to write (:func:`check_output_dir`) is either an existing writable folder, or a path
  whose nearest existing ancestor is a writable folder (so it can be created);
* a file to write (:func:`check_output_file`) is not a folder, is writable if it exists, and its
  folder passes :func:`check_output_dir`;
* no path component may be longer than the file system allows, nor the whole path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import UserError

#: Longest accepted experiment name (it becomes a folder name under ``reports/``).
MAX_NAME = 100

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def check_name(name: object, what: str = "the experiment name") -> str:
    """Return ``name`` if it is a valid experiment name, else raise a :class:`UserError`."""
    if not isinstance(name, str) or not name:
        raise UserError(f"{what} must be a non-empty string such as \"quickstart\", got {name!r}.")
    if len(name) > MAX_NAME:
        raise UserError(f"{what} is {len(name)} characters long; use at most {MAX_NAME} "
                        "(it names the report folder).")
    if name in (".", "..") or not _NAME.match(name):
        raise UserError(f"{what} {name!r} is not a plain name; use only letters, digits, '-', '_' "
                        "and '.' (no path separators), e.g. \"my-search\".")
    return name


def _limits(existing: Path) -> tuple[int, int]:
    """(longest file name, longest path) on the file system holding ``existing``."""
    try:
        return (os.pathconf(existing, "PC_NAME_MAX"), os.pathconf(existing, "PC_PATH_MAX"))
    except (OSError, ValueError):  # pragma: no cover - systems without pathconf
        return 255, 4096


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_lengths(path: Path, what: str) -> None:
    absolute = Path(os.path.abspath(path))
    name_max, path_max = _limits(_nearest_existing(absolute))
    too_long = [part for part in absolute.parts if len(part.encode()) > name_max]
    if too_long:
        raise UserError(f"{what} {path} has a component of {len(too_long[0].encode())} bytes; this "
                        f"file system allows {name_max}: use a shorter name.")
    if len(str(absolute).encode()) >= path_max:
        raise UserError(f"{what} {path} is too long for this file system ({path_max} bytes at "
                        "most); use a shorter path.")


def _check_creatable(path: Path, what: str) -> None:
    """``path`` does not exist: its nearest existing ancestor must be a writable folder."""
    base = _nearest_existing(Path(os.path.abspath(path)))
    if not base.is_dir():
        raise UserError(f"{what} {path} cannot be created because {base} is a file, not a folder; "
                        "choose another path.")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UserError(f"{what} {path} cannot be created: {base} is not writable; choose a "
                        "folder you can write to.")


def check_output_dir(path: str | Path, what: str = "output folder") -> Path:
    """Check that folder ``path`` exists and is writable, or could be created; create nothing."""
    path = Path(path)
    _check_lengths(path, what)
    if not path.exists():
        _check_creatable(path, what)
    elif not path.is_dir():
        raise UserError(f"{what} {path} is a file, not a folder; give a folder path "
                        "(it will be created if missing).")
    elif not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"{what} {path} is not writable; choose a folder you can write to.")
    return path


def check_output_file(path: str | Path, what: str = "output file", example: str = "out.csv") -> Path:
    """Check that file ``path`` could be written (created or overwritten); create nothing.
    ``example`` is the file name suggested when ``path`` is a folder."""
    path = Path(path)
    if str(path).endswith(os.sep) or path.is_dir():
        raise UserError(f"{what} {path} is a folder; give a file name inside it, e.g. "
                        f"{path / example}.")
    _check_lengths(path, what)
    if not path.exists():
        _check_creatable(path, what)
    elif not path.is_file():
        raise UserError(f"{what} {path} exists and is not a regular file; choose another path.")
    elif not os.access(path, os.W_OK):
        raise UserError(f"{what} {path} is not writable; choose a file you can write to.")
    return path


_SQLITE_MAGIC = b"SQLite format 3\x00"


def check_store_path(path: str | Path, write: bool) -> Path:
    """Check a results-store path before anything opens it.

    ``write=False`` (show, report, export): the file must exist.  ``write=True`` (search,
    compare, tabulate): it may be missing, then its folder must be creatable.  Either way a
    folder, or a non-empty file that is not SQLite, is refused without being touched.
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f"store {path} is a folder; give a store file such as {path / 'runs.sqlite'}.")
    if not path.exists():
        if not write:
            raise UserError(f"store {path} does not exist; check the path (`moo-nas search` "
                            "creates one).")
        return check_output_file(path, "store", "runs.sqlite")
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise UserError(f"store {path} cannot be read ({exc.strerror}); check its permissions.") from None
    if head and head != _SQLITE_MAGIC:
        raise UserError(f"store {path} is not a readable moo_nas SQLite store (not an SQLite file); "
                        "point --store at another file or restore it from a backup.")
    if write and not os.access(path, os.W_OK):
        raise UserError(f"store {path} is not writable; choose a store file you can write to.")
    return path
