"""Epoch time of the DNAS searches vs plain training of the seed, side by side in one run.

Setting of the reference measurement (shared/notes/anchors.md): scikit-learn digits upsampled to
32x32, batch 64, the train split (1078 images) per epoch, CPU; seeds ``digits-cnn`` (the small
3-conv CNN) and ``resnet8``.  For each seed, every mode trains for ``--repeats`` timed epochs after a
warm-up epoch and the medians are reported:

* ``plain``  - a step of :func:`moo_nas.training.train_epochs` on ``space.build(seed)``;
* ``mask``   - a mask-search step (:class:`moo_nas.dnas.search.SearchTrainer`: weights +
  channel/kernel/depth masks, multi-complexity loss, model_bytes hinge + MACs regulariser);
* ``mps``    - a channel-wise mixed-precision search step ({0,2,4,8}-bit weights per channel,
  {2,4,8}-bit activations per layer, model_bytes hinge + bitops regulariser), same trainer.

The machine is shared, so the three modes run interleaved batch by batch on the same batches;
a mode's epoch time is the sum of its step times.

Targets (issue 3): mask <= 1.10x plain, mps <= 2.0x plain.  Run:
``python bench/bench_dnas.py [--repeats 3] [--threads 2] [--train-size N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moo_nas.data import Task, load_task  # noqa: E402
from moo_nas.dnas.loss import ComplexityLoss, LossConfig, cost_function  # noqa: E402
from moo_nas.dnas.mixed_precision import attach  # noqa: E402
from moo_nas.dnas.search import SearchTrainer, init_from_importance  # noqa: E402
from moo_nas.dnas.supernet import MaskedNet  # noqa: E402
from moo_nas.spaces import make_space  # noqa: E402
from moo_nas.training import Recipe, host_device, make_optimizer  # noqa: E402


def digits32() -> Task:
    t = load_task("digits")
    up = lambda x: F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)  # noqa: E731
    return replace(t, name="digits32", input_shape=(1, 32, 32), x_train=up(t.x_train),
                   x_val=up(t.x_val), x_test=up(t.x_test))


def _plain_stepper(module: torch.nn.Module, recipe: Recipe, total: int):
    """One step of :func:`moo_nas.training.train_epochs` (same optimiser, loss, schedule)."""
    opt = make_optimizer(recipe, [p for p in module.parameters() if p.requires_grad])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        module.train()
        loss = F.cross_entropy(module(x), y, label_smoothing=recipe.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()

    return step


def _search_stepper(net: MaskedNet, recipe: Recipe, total: int, loss: LossConfig):
    arch = net.plan.arch
    closs = ComplexityLoss(loss, float(cost_function(loss.memory_cost)(arch)),
                           float(cost_function(loss.energy_cost)(arch)))
    return SearchTrainer(net, recipe, total, True, 1.0, closs, 0.02).step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="timed epochs (after one warm-up epoch)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-size", type=int, help="images per epoch (default: all 1078)")
    ap.add_argument("--spaces", nargs="+", default=["digits-cnn", "resnet8"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    task = digits32()
    n = min(len(task.y_train), args.train_size or len(task.y_train))
    recipe = Recipe(epochs=1, batch_size=64, lr=3e-3, threads=args.threads)
    steps = -(-n // 64)
    print(f"device: {host_device()}, torch {torch.__version__}, {args.threads} thread(s); "
          f"digits 32x32, {n} train images per epoch, batch 64; steps of the three modes "
          f"interleaved batch by batch (rotating order), epoch time = sum of a mode's step "
          f"times, median over {args.repeats} epochs after 1 warm-up epoch")
    for name in args.spaces:
        space = make_space(name, task.input_shape, task.num_classes)
        torch.manual_seed(0)
        plain = space.build(space.seed_genotype())
        masked = MaskedNet(space)
        init_from_importance(masked)
        mps = MaskedNet(space)
        attach(mps)
        total = steps * (args.repeats + 1)
        modes = {
            "plain": _plain_stepper(plain, recipe, total),
            "mask": _search_stepper(masked, recipe, total,
                                    LossConfig("model_bytes", 0.5, 10.0, "macs", 0.5)),
            "mps": _search_stepper(mps, recipe, total,
                                   LossConfig("model_bytes", 0.5, 10.0, "bitops", 0.5)),
        }
        names = list(modes)
        gen = torch.Generator().manual_seed(0)
        epochs: dict[str, list[float]] = {m: [] for m in names}
        for epoch in range(args.repeats + 1):
            acc = {m: 0.0 for m in names}
            perm = torch.randperm(len(task.y_train), generator=gen)[:n]
            for b, i in enumerate(range(0, n, 64)):
                idx = perm[i : i + 64]
                x, y = task.x_train[idx], task.y_train[idx]
                for k in range(len(names)):
                    m = names[(b + k) % len(names)]
                    t0 = time.perf_counter()
                    modes[m](x, y)
                    acc[m] += time.perf_counter() - t0
            if epoch > 0:
                for m in names:
                    epochs[m].append(acc[m])
        med = {m: statistics.median(v) for m, v in epochs.items()}
        ratio = {m: statistics.median(a / p for a, p in zip(epochs[m], epochs["plain"]))
                 for m in names}
        print(f"{name:11s} plain {med['plain']:.3f} s/epoch | mask {med['mask']:.3f} s "
              f"({ratio['mask']:.2f}x, target <= 1.10x) | mps {med['mps']:.3f} s "
              f"({ratio['mps']:.2f}x, target <= 2.0x)", flush=True)


if __name__ == "__main__":
    main()
