"""Step timing (moo_nas.timing): training time estimated from a few timed minibatches."""

from __future__ import annotations

import json
import math

import pytest
import torch

from moo_nas.evaluator import training_setup
from moo_nas.objectives import make_objective
from moo_nas.timing import StepTiming, TimingCache, step_timing_key, time_training_steps
from moo_nas.training import Recipe, recipe_steps


@pytest.fixture(scope="module")
def evaluator():
    objs = (make_objective("val_accuracy"),)
    _, ev = training_setup("digits-cnn", "digits", Recipe(epochs=1, batch_size=64), objs)
    return ev


def test_step_timing_scales_to_the_recipe_steps(evaluator):
    task, space = evaluator.task, evaluator.space
    recipe = Recipe(epochs=2, batch_size=64)
    threads = torch.get_num_threads()
    st = time_training_steps(space, space.seed_genotype(), task, recipe, seed=0, steps=4, warmup=2)
    assert st.total_steps == 2 * math.ceil(len(task.y_train) / 64) == recipe_steps(recipe, len(task.y_train))
    assert st.timed_steps == 4 and st.per_step_s > 0 and st.eval_s > 0
    assert st.train_seconds == pytest.approx(st.per_step_s * st.total_steps + st.eval_s)
    assert torch.get_num_threads() == threads  # the recipe's thread count is restored
    assert StepTiming.from_json(json.loads(json.dumps(st.to_json()))) == st


def test_step_timing_refuses_more_steps_than_the_recipe_has(evaluator):
    task, space = evaluator.task, evaluator.space
    recipe = Recipe(epochs=1, batch_size=512)  # 3 steps on the 60 % training split
    with pytest.raises(ValueError, match="fewer than"):
        time_training_steps(space, space.seed_genotype(), task, recipe, seed=0, steps=5, warmup=1)
    with pytest.raises(ValueError, match="warmup >= 1"):
        time_training_steps(space, space.seed_genotype(), task, recipe, seed=0, steps=1, warmup=0)


def test_cache_measures_once_and_replays_from_the_file(tmp_path, evaluator):
    g = evaluator.space.seed_genotype()
    path = tmp_path / "timing.json"
    cache = TimingCache(path)
    assert cache.cached_step_timing(evaluator, g, steps=3) is None
    st, new = cache.step_timing(evaluator, g, seed=0, steps=3)
    assert new and st.timed_steps == 3
    again = TimingCache(path)  # a second process reads the file
    st2, new2 = again.step_timing(evaluator, g, seed=1, steps=3)
    assert not new2 and st2 == st  # the training seed is not part of the key
    assert again.cached_step_timing(evaluator, g, steps=3) == st
    assert step_timing_key(evaluator, g, 3) != step_timing_key(evaluator, g, 4)
    assert step_timing_key(evaluator, g, 3, warmup=5).endswith("|warmup=5")
    full = again.full_training(evaluator, g, seed=0)
    assert 0.0 <= full.val <= 1.0 and full.train_s > 0
    data = json.loads(path.read_text())
    assert set(data) == {"steps", "full"} and len(data["steps"]) == 1 and len(data["full"]) == 1
    assert TimingCache(path).full_training(evaluator, g, seed=0) == full  # replayed, not retrained


def test_step_timing_uses_the_trainers_clock(monkeypatch, evaluator):
    # the estimate must be on the clock training is charged with (device_seconds: CPU time on a
    # CPU); timed with wall time it grew with the machine's load while train_s did not
    import moo_nas.timing as timing

    ticks = iter(range(1000))
    monkeypatch.setattr(timing, "device_seconds", lambda: float(next(ticks)))
    task, space = evaluator.task, evaluator.space
    st = time_training_steps(space, space.seed_genotype(), task, Recipe(epochs=1, batch_size=64),
                             seed=0, steps=4, warmup=1)
    assert st.per_step_s == pytest.approx(1 / 4)  # two marks one tick apart, over 4 steps
    assert st.eval_s == pytest.approx((len(task.y_val) + len(task.y_test)) / min(512, len(task.y_val)))


def test_cache_entries_timed_with_another_clock_are_measured_again(tmp_path, evaluator):
    g = evaluator.space.seed_genotype()
    path = tmp_path / "timing.json"
    st, _ = TimingCache(path).step_timing(evaluator, g, seed=0, steps=3)
    data = json.loads(path.read_text())
    (entry,) = data["steps"].values()
    del entry["clock"]  # as files written before the clock was recorded
    path.write_text(json.dumps(data))
    cache = TimingCache(path)
    assert cache.cached_step_timing(evaluator, g, steps=3) is None
    _, new = cache.step_timing(evaluator, g, seed=0, steps=3)
    assert new
    assert json.loads(path.read_text())["steps"][step_timing_key(evaluator, g, 3)]["clock"] == "device_seconds"
