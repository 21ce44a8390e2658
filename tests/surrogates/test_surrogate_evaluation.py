"""The NASLib-style evaluation harness, on a store made by the real engine and trainer, and
the ``moo-nas surrogates evaluate`` command."""

import numpy as np
import pytest

from moo_nas.cli import main
from moo_nas.engine import Budget, run_search
from moo_nas.errors import UserError
from moo_nas.evaluator import TrainingEvaluator, EvaluatorSpec, needed_providers
from moo_nas.objectives import make_objective
from moo_nas.store import Store
from moo_nas.training import Recipe
from moo_nas.strategy import Problem
from surrogates import evaluation as E


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("surr") / "runs.sqlite"
    objs = (make_objective("val_accuracy"), make_objective("params"))
    spec = EvaluatorSpec("digits-cnn", {}, "digits", {}, Recipe(epochs=1), objs,
                         needed_providers(objs, ()), ())
    ev = TrainingEvaluator(spec)
    with Store(path) as st:
        run_search(st, Problem(ev.space, objs, ev.task, spec.recipe), ev, "random", {}, 0,
                   Budget(evaluations=24))
    return path


def test_from_store_merges_duplicate_architectures(store_path):
    data = E.from_store(store_path, "params")
    assert 10 <= len(data) <= 24
    fps = {data.space.arch(g).fingerprint() for g in data.genotypes}
    assert len(fps) == len(data)
    assert np.all(data.y > 0) and data.features().shape[0] == len(data)


def test_evaluate_scores_and_reports(store_path, tmp_path):
    data = E.from_store(store_path, "params")
    scores = E.evaluate(data, ["rf", "knn"], sizes=[3, 8], repeats=2, n_test=None,
                        options={"rf": {"n_estimators": 30}})
    assert len(scores) == 2 * 2 * 2
    s = E.summarise(scores)
    rf8 = [x for x in s if x.predictor == "rf" and x.n_train == 8][0]
    # params is a smooth function of the features: a forest on 8 points ranks it well
    assert rf8.spearman > 0.6 and rf8.repeats == 2
    assert E.best(s, 8).n_train <= 8
    md = E.markdown(s, data)
    assert "| rf |" in md and "Spearman" in md
    assert E.plot(s, tmp_path / "p.png").stat().st_size > 1000
    with pytest.raises(UserError, match="largest training-set size"):
        E.evaluate(data, ["rf"], sizes=[len(data)])
    with pytest.raises(UserError, match="unknown predictor"):
        E.evaluate(data, ["nope"], sizes=[3])


def test_cli_evaluate(store_path, tmp_path, capsys):
    out = tmp_path / "rep"
    rc = main(["surrogates", "evaluate", "--store", str(store_path), "--metric", "params",
               "--predictors", "knn,bayes-ridge", "--sizes", "3,6", "--repeats", "1",
               "--max-train", "6", "--out", str(out)])
    assert rc == 0
    assert (out / "results.md").read_text().count("| knn |") == 1
    assert (out / "results.png").is_file() and (out / "scores.json").is_file()
    assert main(["surrogates", "evaluate", "--out", str(out)]) == 2
    assert "exactly one data source" in capsys.readouterr().err
