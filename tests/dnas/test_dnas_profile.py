"""Steppers of moo_nas.dnas.profile: each one takes real steps and is timed side by side."""

import math

import torch

from moo_nas.data import load_task
from moo_nas.dnas.profile import dnas_steppers, interleaved_epochs, upsampled
from moo_nas.spaces import make_space
from moo_nas.training import Recipe


def test_each_stepper_steps_and_is_timed():
    task = load_task("digits")
    space = make_space("digits-cnn", task.input_shape, task.num_classes)
    recipe = Recipe(epochs=1, batch_size=32)
    steppers = dnas_steppers(space, recipe, total_steps=4)
    assert list(steppers) == ["plain", "mask", "mps"]
    x, y = task.x_train[:32], task.y_train[:32]
    for name, step in steppers.items():
        assert math.isfinite(step(x, y)), name
    times = interleaved_epochs(steppers, task, batch_size=32, epochs=2, train_size=64)
    assert set(times) == set(steppers)
    assert all(len(t) == 2 and all(s > 0 for s in t) for t in times.values())


def test_steppers_train_their_own_network():
    task = load_task("digits")
    space = make_space("digits-cnn", task.input_shape, task.num_classes)
    step = dnas_steppers(space, Recipe(epochs=1, batch_size=64), total_steps=20)["plain"]
    x, y = task.x_train[:64], task.y_train[:64]
    first = step(x, y)
    for _ in range(15):
        last = step(x, y)
    assert last < first  # the same minibatch again and again: the loss must fall


def test_upsampled_task_keeps_labels_and_sizes():
    task = load_task("digits")
    up = upsampled(task, 16)
    assert up.input_shape == (1, 16, 16) and up.x_train.shape[1:] == (1, 16, 16)
    assert torch.equal(up.y_train, task.y_train) and up.sizes() == task.sizes()
    assert up.config() != task.config()
