"""Searches on the embedded digits data for the engine and fault tests: the problem and its
training evaluator in-process, and ``moo-nas`` in a child process whose store a test watches."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from moo_nas.evaluator import EvaluatorSpec, TrainingEvaluator, needed_providers
from moo_nas.objectives import Objective
from moo_nas.store import Store
from moo_nas.strategy import Problem
from moo_nas.training import Recipe

ROOT = Path(__file__).resolve().parents[1]


def digits_problem(objectives: Sequence[Objective], epochs: int = 1) -> tuple[Problem, TrainingEvaluator]:
    """The digits-cnn space on digits with ``objectives``, and the evaluator that trains each
    network for ``epochs``."""
    objs = tuple(objectives)
    spec = EvaluatorSpec("digits-cnn", {}, "digits", {}, Recipe(epochs=epochs), objs, needed_providers(objs, []))
    e = TrainingEvaluator(spec)
    return Problem(e.space, objs, e.task, spec.recipe), e


def child_env() -> dict[str, str]:
    """The environment of a child ``python``: this tree's ``moo_nas`` first on its path."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def search_command(store: Path, report: Path, evaluations: int, epochs: int, *extra: str) -> list[str]:
    """``python -m moo_nas search`` of the random strategy on digits (val_accuracy and
    model_bytes, no progress bar) into ``store`` and ``report``; ``extra``: more flags."""
    return [sys.executable, "-m", "moo_nas", "search", "--strategy", "random",
            "--evaluations", str(evaluations), "--recipe", f"epochs={epochs}",
            "--objective", "val_accuracy", "--objective", "model_bytes",
            "--store", str(store), "--report", str(report), "--quiet", *extra]


def watch_store(path: Path, count: Callable[[Store], int], at_least: int, seconds: float) -> int:
    """``count`` of the store a child process is writing, read every 0.2 s until it reaches
    ``at_least`` or ``seconds`` have passed (0 while the store does not exist, or when a read
    fails while the child creates it); returns the last count read."""
    n = 0
    deadline = time.time() + seconds
    while time.time() < deadline and n < at_least:
        time.sleep(0.2)
        if path.exists():
            try:
                with Store(path) as s:
                    n = int(count(s))
            except Exception:
                n = 0
    return n
