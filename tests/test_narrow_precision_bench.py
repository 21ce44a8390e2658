"""The step timing of ``bench/narrow_precision.py`` (training time saved by rejections)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch

from moo_nas.data import load_task
from moo_nas.spaces import make_space
from moo_nas.training import Recipe

_PATH = Path(__file__).resolve().parents[1] / "bench" / "narrow_precision.py"
_spec = importlib.util.spec_from_file_location("narrow_precision_bench", _PATH)
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench  # dataclasses look their module up there
_spec.loader.exec_module(bench)


@pytest.fixture(scope="module")
def digits():
    task = load_task("digits")
    space = make_space("digits-cnn", task.input_shape, task.num_classes)
    return task, space


def test_step_timing_scales_to_the_recipe_steps(digits):
    task, space = digits
    recipe = Recipe(epochs=2, batch_size=64)
    threads = torch.get_num_threads()
    st = bench.time_training_steps(space, space.seed_genotype(), task, recipe, seed=0,
                                   steps=4, warmup=2)
    assert st.total_steps == 2 * math.ceil(len(task.y_train) / 64)
    assert st.timed_steps == 4 and st.per_step_s > 0 and st.eval_s > 0
    assert st.train_seconds == pytest.approx(st.per_step_s * st.total_steps + st.eval_s)
    assert torch.get_num_threads() == threads  # the recipe's thread count is restored


def test_step_timing_refuses_more_steps_than_the_recipe_has(digits):
    task, space = digits
    recipe = Recipe(epochs=1, batch_size=512)  # 3 steps on the 60 % training split
    with pytest.raises(ValueError, match="fewer than"):
        bench.time_training_steps(space, space.seed_genotype(), task, recipe, seed=0,
                                  steps=5, warmup=1)
