"""A stored point retrained for export gets back the weights it was evaluated with; the
``export-model`` command on it; bad run / seq numbers are one sentence."""

import pytest

from moo_nas.byo.retrain import retrain_point
from moo_nas.cli import main
from moo_nas.engine import Budget, run_search
from moo_nas.errors import UserError
from moo_nas.evaluator import EvaluatorSpec, TrainingEvaluator, needed_providers
from moo_nas.objectives import make_objective
from moo_nas.strategy import Problem
from moo_nas.training import Recipe


def _search(store, strategy, options, evaluations):
    objectives = (make_objective("val_accuracy"), make_objective("model_bytes"))
    recipe = Recipe(epochs=1, batch_size=64, lr=3e-3)
    options_space = {"seed_model": "examples/byo_model.py:SmallNet", "input_shape": [1, 8, 8],
                     "formats": ["int8", "fp32"]}
    spec = EvaluatorSpec("traced", options_space, "digits", {}, recipe, objectives,
                         needed_providers(objectives, ()))
    ev = TrainingEvaluator(spec)
    problem = Problem(ev.space, objectives, ev.task, recipe)
    return run_search(store, problem, ev, strategy, options, 3, Budget(evaluations=evaluations))


@pytest.fixture
def stored(tmp_store):
    return tmp_store, _search(tmp_store, "random", {}, 1).evaluations[0]


def test_retrained_point_has_its_evaluated_accuracy(stored):
    store, e = stored
    point = retrain_point(store, e.run_id, str(e.seq))
    assert point.genotype.key == e.genotype_key and not point.warm_started
    assert point.val_accuracy == e.value("val_accuracy")
    with pytest.raises(UserError, match="has no evaluation 99"):
        retrain_point(store, e.run_id, "99")
    with pytest.raises(UserError, match="has no run 42"):
        retrain_point(store, 42, "0")


def test_export_model_command(stored, tmp_path, capsys):
    store, e = stored
    out = tmp_path / "m.onnx"
    assert main(["export-model", str(store.path), "--run", str(e.run_id), "--genotype",
                 str(e.seq), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.exists() and f"val accuracy {e.value('val_accuracy'):.4f}" in text


def test_dnas_point_gets_back_its_searched_and_fine_tuned_weights(tmp_store):
    """The DNAS strategy is replayed and its ask repeated: same weights as the evaluation,
    also for a repeated proposal answered from the run (a cached seq)."""
    options = {"targets": [0.5, 0.01, 0.01], "energy_strengths": [0.0], "warmup_epochs": 1,
               "search_epochs": 1, "export_format": "int8"}
    evs = _search(tmp_store, "dnas", options, 3).evaluations
    assert evs[2].cached and evs[2].genotype_key == evs[1].genotype_key  # the smallest network
    for e in (evs[1], evs[2]):
        point = retrain_point(tmp_store, e.run_id, str(e.seq))
        assert point.warm_started and point.genotype.key == e.genotype_key
        assert point.val_accuracy == e.value("val_accuracy")
