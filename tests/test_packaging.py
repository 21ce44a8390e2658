"""Packaging: a regular (non-editable) install must carry every data file the package reads."""

from __future__ import annotations

import configparser
import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _package_data_patterns() -> list[str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    raw = cfg["options.package_data"]["moo_nas"]
    return [p.strip() for p in raw.replace("\n", ",").split(",") if p.strip()]


def test_every_data_file_under_moo_nas_is_package_data():
    # a file missing here is absent from a wheel or a `pip install .` (the shipped HELP table
    # once was: `moo-nas spaces` then failed in a fresh virtual environment)
    patterns = _package_data_patterns()
    pkg = ROOT / "moo_nas"
    data = [p.relative_to(pkg).as_posix() for p in pkg.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    assert data, "expected data files (targets, the shipped device table)"
    missing = [d for d in data if not any(fnmatch.fnmatch(d, pat) for pat in patterns)]
    assert not missing, f"not in setup.cfg [options.package_data]: {missing}"
