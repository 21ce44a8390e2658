"""Learning-curve extrapolation: curve fits and per-epoch recording with the real trainer."""

import numpy as np
import pytest
import torch

from moo_nas.data import load_task
from moo_nas.errors import UserError
from moo_nas.spaces import make_space
from moo_nas.training import Recipe, train
from surrogates.learning_curve import extrapolate, fit_curve, record_curve


def test_power_law_and_exponential_recover_the_final_value():
    t = np.arange(1, 31)
    pow_curve = 0.95 - 0.5 * t ** -0.8
    exp_curve = 0.9 - 0.6 * np.exp(-0.3 * t)
    assert abs(extrapolate(pow_curve[:8], 30, "pow") - pow_curve[-1]) < 0.01
    assert abs(extrapolate(exp_curve[:8], 30, "exp") - exp_curve[-1]) < 0.01
    # extrapolation beats the last observed value on a rising curve
    assert abs(extrapolate(pow_curve[:8], 30) - pow_curve[-1]) < abs(pow_curve[7] - pow_curve[-1])
    assert fit_curve([0.5, 0.6], "auto").model == "last"


def test_bad_input():
    with pytest.raises(UserError):
        fit_curve([0.1, 0.2, 0.3], "cubic")
    with pytest.raises(UserError):
        extrapolate([0.1, 0.2, 0.3], 2)


def test_record_curve_matches_full_training():
    task = load_task("digits")
    space = make_space("digits-cnn", task.input_shape, task.num_classes)
    g = space.make({"depth": 1, "c1": 8, "k1": 3, "c2": 8, "k2": 1, "c3": 8, "k3": 1})
    recipe = Recipe(epochs=3)
    torch.manual_seed(0)
    curve = record_curve(space.build(g), task, recipe, seed=0)
    assert len(curve) == 3 and all(0 <= v <= 1 for v in curve)
    torch.manual_seed(0)
    full = train(space.build(g), task, recipe, seed=0)
    assert curve[-1] == pytest.approx(full.val_accuracy)
    torch.manual_seed(0)
    early = record_curve(space.build(g), task, recipe, seed=0, epochs=1)
    assert early == curve[:1]
