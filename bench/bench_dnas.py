"""Epoch time of the DNAS searches vs plain training of the seed, side by side in one run.

Setting of the reference measurement (shared/notes/anchors.md): scikit-learn digits upsampled to
32x32, batch 64, the train split (1078 images) per epoch, CPU; built-in seeds ``digits-cnn`` (the
small 3-conv CNN) and ``resnet8``, and a user model traced by ``torch.fx`` into the ``traced``
space (``--seed-models``, default ``examples/byo_model.py:SmallNet``).  For each seed, every mode trains for ``--repeats`` timed epochs after a
warm-up epoch and the medians are reported:

``plain``, ``mask`` and ``mps`` steps as built by :func:`moo_nas.dnas.profile.dnas_steppers`
(plain training of the seed; mask search with a model_bytes hinge + MACs regulariser;
channel-wise mixed-precision search with a model_bytes hinge + bitops regulariser), run
interleaved batch by batch on the same batches by :func:`moo_nas.dnas.profile.interleaved_epochs`
(the machine is shared); a mode's epoch time is the sum of its step times.  A ratio is the
median over epochs of (mode's epoch time / plain's), printed to three decimals with whether
it meets its target.

Targets (issue 17): mask <= 1.05x plain, mps <= 1.5x plain.  Run:
``python bench/bench_dnas.py [--repeats 3] [--threads 2] [--train-size N]``.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from moo_nas.data import load_task
from moo_nas.dnas.profile import dnas_steppers, interleaved_epochs, upsampled
from moo_nas.errors import main_or_exit
from moo_nas.spaces import make_space
from moo_nas.training import Recipe, host_device, recipe_steps

MASK_TARGET, MPS_TARGET = 1.05, 1.5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="timed epochs (after one warm-up epoch)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-size", type=int, help="images per epoch (default: all 1078)")
    ap.add_argument("--spaces", nargs="+", default=["digits-cnn", "resnet8"])
    ap.add_argument("--seed-models", nargs="*", default=["examples/byo_model.py:SmallNet"],
                    help="user models (FILE.py:Name) searched through the traced space; importing "
                         "a file runs its code")
    args = ap.parse_args()
    if args.repeats < 1 or args.threads < 1 or (args.train_size is not None and args.train_size < 1):
        ap.error("--repeats, --threads and --train-size must be at least 1")
    torch.set_num_threads(args.threads)
    task = upsampled(load_task("digits"), 32)
    n = min(len(task.y_train), args.train_size or len(task.y_train))
    recipe = Recipe(epochs=1, batch_size=64, lr=3e-3, threads=args.threads)
    steps = recipe_steps(recipe, n)
    print(f"device: {host_device()}, torch {torch.__version__}, {args.threads} thread(s); "
          f"digits 32x32, {n} train images per epoch, batch 64; steps of the three modes "
          f"interleaved batch by batch (rotating order), epoch time = sum of a mode's step "
          f"times, median over {args.repeats} epochs after 1 warm-up epoch")
    spaces = [(name, make_space(name, task.input_shape, task.num_classes)) for name in args.spaces]
    spaces += [(f"traced:{ref.rsplit(':', 1)[-1]}",
                make_space("traced", task.input_shape, task.num_classes, seed_model=ref))
               for ref in args.seed_models]
    for name, space in spaces:
        steppers = dnas_steppers(space, recipe, steps * (args.repeats + 1), seed=0)
        times = interleaved_epochs(steppers, task, 64, args.repeats + 1, n, seed=0)
        epochs = {m: t[1:] for m, t in times.items()}  # the first epoch warms up
        names = list(epochs)
        med = {m: statistics.median(v) for m, v in epochs.items()}
        ratio = {m: statistics.median(a / p for a, p in zip(epochs[m], epochs["plain"]))
                 for m in names}
        met = {m: "met" if ratio[m] <= t else "NOT met"
               for m, t in (("mask", MASK_TARGET), ("mps", MPS_TARGET))}
        print(f"{name:16s} plain {med['plain']:.3f} s/epoch | mask {med['mask']:.3f} s "
              f"({ratio['mask']:.3f}x, target <= {MASK_TARGET:.2f}x {met['mask']}) | mps "
              f"{med['mps']:.3f} s ({ratio['mps']:.3f}x, target <= {MPS_TARGET:.1f}x {met['mps']})",
              flush=True)


if __name__ == "__main__":
    main_or_exit(main, "bench_dnas.py")
