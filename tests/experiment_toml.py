"""The text of an experiment file for tests, written from Python values.

Tests that run ``moo-nas compare`` (or load an experiment) name only the settings they are
about; this module writes them in the layout of ``experiments/*.toml``: top-level keys first,
then one ``[table]`` per dict, then one ``[[objectives]]`` / ``[[strategies]]`` entry per item
(a plain string is the entry's name).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: keys whose value is a list of entries, each written as its own ``[[key]]`` table
ENTRY_LISTS = ("objectives", "strategies")


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (str, Path)):
        return json.dumps(str(v))  # a JSON string is a TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return repr(v)  # int, float


def _table(header: str, entries: dict[str, Any]) -> list[str]:
    return [header] + [f"{k} = {_value(v)}" for k, v in entries.items()]


def experiment_toml(**settings: Any) -> str:
    """The experiment file of ``settings`` (in their order within each part), e.g.
    ``experiment_toml(name="e", store=path, budget={"evaluations": 4},
    objectives=["val_accuracy", "model_bytes"], strategies=["random", {"name": "nsga2",
    "pop_size": 2}])``; ends with a newline."""
    keys = [f"{k} = {_value(v)}" for k, v in settings.items()
            if not isinstance(v, dict) and k not in ENTRY_LISTS]
    tables = [line for k, v in settings.items() if isinstance(v, dict)
              for line in _table(f"[{k}]", v)]
    entries = [line for k in ENTRY_LISTS for e in settings.get(k, ())
               for line in _table(f"[[{k}]]", {"name": e} if isinstance(e, str) else e)]
    return "\n".join(keys + tables + entries) + "\n"
