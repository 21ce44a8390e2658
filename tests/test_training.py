import numpy as np
import pytest
import torch

from moo_nas.data import load_task
from moo_nas.evaluator import TrainingEvaluator, EvaluatorSpec, needed_providers
from moo_nas.objectives import make_objective
from moo_nas.spaces import make_space
from moo_nas.training import Recipe, train
from moo_nas.errors import UserError


def _evaluator(recipe, objectives=("val_accuracy", "model_bytes")):
    objs = tuple(make_objective(o) for o in objectives)
    return TrainingEvaluator(EvaluatorSpec("digits-cnn", {}, "digits", {}, recipe, objs, needed_providers(objs, [])))


def test_training_learns_and_is_deterministic():
    e = _evaluator(Recipe(epochs=3))
    g = e.space.seed_genotype()
    a = e.evaluate(g, seed=3)
    b = e.evaluate(g, seed=3)
    assert a.status == "ok"
    assert a.values["val_accuracy"].value > 0.8  # 10 classes: chance is 0.1
    assert a.values["val_accuracy"].value == b.values["val_accuracy"].value
    assert a.values["test_accuracy"].value == b.values["test_accuracy"].value
    assert a.train_s > 0 and a.device.startswith("cpu")
    assert a.values["val_accuracy"].origin == "measured"
    assert a.values["model_bytes"].origin == "modelled"


def test_diverging_run_is_a_failed_evaluation():
    e = _evaluator(Recipe(epochs=2, lr=1e20, optimizer="sgd", schedule="constant"))
    ev = e.evaluate(e.space.seed_genotype(), seed=0)
    assert ev.status == "failed"
    assert "diverged" in ev.error


def test_bound_on_analytic_metric_skips_training():
    objs = (make_objective("val_accuracy"), make_objective("model_bytes", 2000))
    e = TrainingEvaluator(EvaluatorSpec("digits-cnn", {}, "digits", {}, Recipe(epochs=1), objs, needed_providers(objs, [])))
    ev = e.evaluate(e.space.seed_genotype(), seed=0)
    assert ev.status == "infeasible"
    assert ev.train_s == 0 and "val_accuracy" not in ev.values


def test_latency_is_measured_with_protocol():
    e = _evaluator(Recipe(epochs=1), ("val_accuracy", "latency_ms"))
    ev = e.evaluate(e.space.seed_genotype(), seed=0)
    v = ev.values["latency_ms"]
    assert v.origin == "measured" and v.value > 0
    assert "median" in v.source and "warm-up" in v.source and "thread" in v.source


def test_recipe_validation():
    with pytest.raises(UserError, match="optimizer"):
        Recipe(optimizer="lion")
    with pytest.raises(UserError, match="unknown recipe key"):
        Recipe.from_mapping({"epoch": 3})
    with pytest.raises(UserError, match="epochs"):
        Recipe(epochs=-1)
