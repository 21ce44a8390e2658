"""The ``dnas`` strategy inside the engine: one sweep, exported genotypes fine-tuned by the
common evaluator from their searched weights, search time charged to the run."""

from moo_nas.engine import Budget, run_search
from moo_nas.evaluator import TrainingEvaluator, EvaluatorSpec, needed_providers
from moo_nas.objectives import make_objective
from moo_nas.training import Recipe
from moo_nas.registry import STRATEGIES
from moo_nas.strategy import Problem


def test_dnas_sweep_through_engine(tmp_store):
    objectives = (make_objective("val_accuracy"), make_objective("model_bytes"),
                  make_objective("macs"))
    recipe = Recipe(epochs=1, batch_size=64, lr=1e-3)
    spec = EvaluatorSpec("digits-cnn", {}, "digits", {}, recipe, objectives,
                         needed_providers(objectives, ()))
    evaluator = TrainingEvaluator(spec)
    problem = Problem(evaluator.space, objectives, evaluator.task, recipe)
    options = {"targets": [0.5, 0.1], "energy_strengths": [0.0], "warmup_epochs": 2,
               "search_epochs": 1}
    result = run_search(tmp_store, problem, evaluator, "dnas", options, 0, Budget(evaluations=10))
    evs = result.evaluations
    assert len(evs) == 2 and all(e.status == "ok" for e in evs)
    seed_bytes = evaluator.space.arch(evaluator.space.seed_genotype())
    from moo_nas import costs

    for e, target in zip(evs, (0.5, 0.1)):
        assert e.values["model_bytes"].value <= target * costs.model_bytes(seed_bytes)
        # fine-tuned from the searched weights: far above chance after one epoch
        assert e.values["val_accuracy"].value > 0.5
    # the sweep's search time is charged to the strategy
    assert sum(e.strategy_s for e in evs) > 0.5
    assert result.stats["dnas_targets_met"] == 2.0


def test_dnas_strategy_is_registered_and_deterministic():
    import torch

    from moo_nas.data import load_task
    from moo_nas.spaces import make_space

    cls = STRATEGIES.get("dnas")
    task = load_task("digits")
    space = make_space("digits-cnn", task.input_shape, task.num_classes)
    problem = Problem(space, (make_objective("val_accuracy"),), task,
                      Recipe(epochs=1, batch_size=128))
    runs = []
    for _ in range(2):
        s = cls.create(problem, 7, {"targets": [0.25], "energy_strengths": [1.0],
                                    "warmup_epochs": 1, "search_epochs": 1})
        g = s.ask(1)
        runs.append((g, s.warm_start(g[0])))
        assert s.finished() and s.ask(1) == []
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])
    module = space.build(runs[0][0][0])
    module.load_state_dict(runs[0][1])
