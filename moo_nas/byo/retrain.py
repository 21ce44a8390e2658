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
from typing import Any

import torch

from ..arch import ArchSpec
from ..data import Task
from ..errors import UserError
from ..space import Genotype, SearchSpace
from ..store import Store, StoredRun


@dataclass
class RetrainedPoint:
    """A point of a run with freshly trained weights (``val_accuracy``: measured, torch,
    formats emulated, on the task's validation split; ``warm_started``: trained from the
    strategy's recomputed weights)."""

    run: StoredRun
    genotype: Genotype
    arch: ArchSpec
    state_dict: dict[str, torch.Tensor]
    task: Task
    epochs: int
    val_accuracy: float
    warm_started: bool = False


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


def warm_start_of(store: Store, run: StoredRun, space: SearchSpace, task: Task,
                  seq: int) -> dict[str, Any] | None:
    """The weights the run's strategy handed the evaluator for evaluation ``seq`` (the first
    evaluation of its genotype in the run), or None when it was trained from scratch."""
    from ..comparator import objectives_of
    from ..engine import observation
    from ..registry import STRATEGIES
    from ..strategy import Problem, Strategy
    from ..training import Recipe

    cls = STRATEGIES.get(run.strategy)
    if cls.warm_start is Strategy.warm_start:
        return None
    evaluations = {e.seq: e for e in store.evaluations(run.id)}
    key = evaluations[seq].genotype_key
    seq = min(s for s, e in evaluations.items() if e.genotype_key == key)
    problem = Problem(space, objectives_of(run), task, Recipe.from_mapping(run.recipe))
    strategy = cls.create(problem, run.seed, run.options)
    asked: dict[int, Genotype] = {}
    for event in store.events(run.id):
        if event.kind == "tell":
            strategy.tell([observation(problem, asked[s], evaluations[s]) for s in event.seqs])
            continue
        stored = [space.make(g) for g in event.genotypes]
        batch = strategy.ask(event.asked) if seq in event.seqs else strategy.replay_ask(event.asked, stored)
        if [g.key for g in batch] != [g.key for g in stored]:
            raise UserError(f"strategy {run.strategy!r} of run {run.id} proposes other genotypes "
                            "than it did with the same seed (its code changed); its searched "
                            "weights cannot be recomputed.")
        if seq in event.seqs:
            return strategy.warm_start(batch[event.seqs.index(seq)])
        asked.update(zip(event.seqs, stored))
    return None


def retrain_point(store: Store, run_id: int, genotype: str) -> RetrainedPoint:
    """Retrain evaluation ``seq`` (or a JSON genotype) of run ``run_id`` with the run's recipe
    and seed, as the evaluator trained it (from the strategy's weights when it warm-started
    the evaluation)."""
    from ..training import Recipe, train

    run, space, task = run_space(store, run_id)
    g = pick_genotype(store, run.id, genotype, space)
    seq = genotype.strip()
    warm = warm_start_of(store, run, space, task, int(seq)) if seq.isdigit() else None
    recipe = Recipe.from_mapping(run.recipe)
    torch.manual_seed(run.seed)
    module = space.build(g)
    if warm is not None:
        module.load_state_dict(warm)
    res = train(module, task, recipe, run.seed)
    return RetrainedPoint(run, g, space.arch(g), module.state_dict(), task, recipe.epochs,
                          res.val_accuracy, warm is not None)
