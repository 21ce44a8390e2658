"""One stored point of a run retrained for export (``moo-nas export-model``, ``bench/byo_onnx.py``).

:func:`retrain_point` opens the space, task and recipe a run recorded, picks one of its
evaluations (by ``seq``) or a genotype given as JSON, and trains it the way the evaluator does
(same recipe, ``torch.manual_seed(run seed)`` before building, same training seed), so a point
evaluated from scratch gets back the weights it was evaluated with.  Strategies that
warm-start their evaluations (``dnas`` fine-tunes its searched weights) are retrained from
scratch here: their weights are not stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..arch import ArchSpec
from ..data import Task
from ..errors import UserError
from ..space import Genotype, SearchSpace
from ..store import Store, StoredRun


@dataclass
class RetrainedPoint:
    """A point of a run with freshly trained weights (``val_accuracy``: measured, torch,
    formats emulated, on the task's validation split)."""

    run: StoredRun
    genotype: Genotype
    arch: ArchSpec
    state_dict: dict[str, torch.Tensor]
    task: Task
    epochs: int
    val_accuracy: float


def run_space(store: Store, run_id: int) -> tuple[StoredRun, SearchSpace, Task]:
    """The run ``run_id`` of ``store`` with the space and task it searched; a user error when
    the run does not exist, was evaluated from a table, or its seed model file changed."""
    from ..data import load_task
    from ..spaces import make_space

    try:
        run = store.run(run_id)
    except KeyError:
        raise UserError(f"store {store.path} has no run {run_id}; `moo-nas show "
                        f"{store.path}` lists its runs.") from None
    conf = run.space
    if conf.get("table_only"):
        raise UserError("runs evaluated from a table have no network to export.")
    task = load_task(run.task["name"], **run.task.get("options", {}))
    space = make_space(conf["name"], task.input_shape, task.num_classes, **conf.get("options", {}))
    if "seed_fingerprint" in conf and space.config().get("seed_fingerprint") != conf["seed_fingerprint"]:
        raise UserError(f"the seed model {conf['options'].get('seed_model')} changed since run "
                        f"{run.id}; export from the file the run searched.")
    return run, space, task


def pick_genotype(store: Store, run_id: int, genotype: str, space: SearchSpace) -> Genotype:
    """The genotype of evaluation ``seq`` of the run (``genotype`` all digits), or a genotype
    given as JSON."""
    text = genotype.strip()
    if text.isdigit():
        for e in store.evaluations(run_id):
            if e.seq == int(text):
                return space.make(e.genotype)
        raise UserError(f"run {run_id} has no evaluation {text}; `moo-nas show STORE --run "
                        f"{run_id}` lists them in the seq column.")
    return space.from_json(text)


def retrain_point(store: Store, run_id: int, genotype: str) -> RetrainedPoint:
    """Retrain evaluation ``seq`` (or a JSON genotype) of run ``run_id`` with the run's recipe
    and seed, as the evaluator trained it."""
    from ..training import Recipe, train

    run, space, task = run_space(store, run_id)
    g = pick_genotype(store, run.id, genotype, space)
    recipe = Recipe.from_mapping(run.recipe)
    torch.manual_seed(run.seed)
    module = space.build(g)
    res = train(module, task, recipe, run.seed)
    return RetrainedPoint(run, g, space.arch(g), module.state_dict(), task, recipe.epochs,
                          res.val_accuracy)
