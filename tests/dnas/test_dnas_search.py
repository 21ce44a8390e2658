"""Search behaviour on the embedded digits data (a few seconds each)."""

import pytest
import torch

from moo_nas import costs
from moo_nas.data import load_task
from moo_nas.dnas.export import export
from moo_nas.dnas.loss import LossConfig
from moo_nas.dnas.search import SearchConfig, enforce_memory, exact_cost, run_point, search, warmup
from moo_nas.dnas.supernet import MaskedNet
from moo_nas.errors import UserError
from moo_nas.spaces import make_space
from moo_nas.training import Recipe, accuracy

RECIPE = Recipe(epochs=1, batch_size=64, lr=3e-3)
MPS_OPTS = {"formats": ["int2", "int4", "int8", "fp32"], "per_layer_formats": True}


@pytest.fixture(scope="module")
def task():
    return load_task("digits")


@pytest.fixture(scope="module")
def warm(task):
    return warmup(make_space("digits-cnn", task.input_shape, task.num_classes), task, RECIPE, 2, 0)


def _smallest(space):
    return space.arch(space.make({v.name: v.options[0] for v in space.variables}))


def test_masks_collapse_to_minimum_under_large_cost_strength(task):
    space = make_space("resnet8", task.input_shape, task.num_classes)
    torch.manual_seed(0)
    net = MaskedNet(space)
    config = SearchConfig(search_epochs=3, mask_lr=0.1,
                          loss=LossConfig(memory_target=1.0, energy_strength=1e3))
    search(net, task, RECIPE, config, 0)
    ex = export(net)
    smallest = _smallest(space)
    assert ex.genotype["stacks"] == 1
    for fn in (costs.macs, costs.model_bytes, costs.params):
        assert fn(ex.arch) == fn(smallest)


def test_memory_target_met_and_export_keeps_accuracy(task, warm):
    config = SearchConfig(search_epochs=2, loss=LossConfig(memory_target=0.25))
    r = run_point(warm, task, RECIPE, config, 3)
    seed_bytes = costs.model_bytes(warm.plan.arch)
    assert r.memory <= 0.25 * seed_bytes
    assert r.memory == costs.model_bytes(make_space("digits-cnn", task.input_shape, 10).arch(r.exported.genotype))
    # no fine-tuning: the exported network is the masked network
    assert abs(r.exported_val_accuracy - r.masked_val_accuracy) <= 0.01
    assert r.masked_val_accuracy > 0.5


def test_projection_enforces_target_without_search(task, warm):
    net = MaskedNet(warm.space, warm.plan)
    net.load_state_dict(warm.state_dict())
    loss = LossConfig(memory_target=0.1)
    steps = enforce_memory(net, loss)
    assert steps > 0
    assert exact_cost(net, "model_bytes") <= 0.1 * costs.model_bytes(net.plan.arch)
    before = accuracy(net, task.x_val, task.y_val)
    ex = export(net)
    module = warm.space.build(ex.genotype)
    module.load_state_dict(ex.state_dict)
    assert abs(accuracy(module, task.x_val, task.y_val) - before) <= 0.01


def test_impossible_target_is_a_user_error(task, warm):
    net = MaskedNet(warm.space, warm.plan)
    with pytest.raises(UserError, match="raise the target"):
        enforce_memory(net, LossConfig(memory_target=1e-4))


def test_mask_step_decays_for_binary_masks_only(task):
    """Adam without momentum turns gradient noise into steps of ~mask_lr: binary masks get the
    decaying step mask_lr / sqrt(1 + t / T0) so a long search does not random-walk them."""
    from moo_nas.dnas.mixed_precision import attach
    from moo_nas.dnas.search import MASK_LR_T0, SearchTrainer

    space = make_space("digits-cnn", task.input_shape, task.num_classes)
    torch.manual_seed(0)
    net = MaskedNet(space)
    trainer = SearchTrainer(net, RECIPE, 100, True, mask_lr=0.05)
    x, y = task.x_train[:32], task.y_train[:32]
    for _ in range(40):
        trainer.step(x, y)
    assert trainer.mopt.lr == pytest.approx(0.05 / (1 + 40 / MASK_LR_T0) ** 0.5)
    assert all(0.0 <= float(p.min()) and float(p.max()) <= 1.0 for p in net.mask_parameters())
    mps_net = MaskedNet(make_space("digits-cnn", task.input_shape, task.num_classes, **MPS_OPTS))
    attach(mps_net)
    mps = SearchTrainer(mps_net, RECIPE, 100, True, mask_lr=0.05)
    for _ in range(10):
        mps.step(x, y)
    assert mps.mopt.lr == pytest.approx(0.05)  # softmax logits: no threshold


def test_warmup_trains_on_the_recipes_threads(task, monkeypatch):
    """Like the trainer and run_point: the warm-up's CPU time is comparable with training's
    (idle OpenMP threads spinning on a loaded machine would be charged as search cost)."""
    from moo_nas.dnas import search as search_module

    seen = []
    monkeypatch.setattr(search_module, "_loop", lambda *a, **k: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        warmup(make_space("digits-cnn", task.input_shape, task.num_classes), task,
               Recipe(epochs=1, threads=1), 1, 0)
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
