"""Epoch time of the DNAS searches vs plain training of the seed, side by side in one run.

Setting of the reference measurement (shared/notes/anchors.md): scikit-learn digits upsampled to
32x32, batch 64, the train split (1078 images) per epoch, CPU; seeds ``digits-cnn`` (the small
3-conv CNN) and ``resnet8``.  For each seed, one epoch of each mode is timed in turn, ``--repeats``
times (interleaved, so machine load hits every mode alike), and the median is reported:

* ``plain``  - :func:`moo_nas.training.train_epochs` on ``space.build(seed)``;
* ``mask``   - the mask-based search step (weights + channel/kernel/depth masks, multi-complexity
  loss with model_bytes hinge and MACs regulariser), :func:`moo_nas.dnas.search.search`;
* ``mps``    - the channel-wise mixed-precision search ({0,2,4,8}-bit weights per channel,
  {2,4,8}-bit activations per layer), same loop.

Targets (issue 3): mask <= 1.10x plain, mps <= 2.0x plain.  Run:
``python bench/bench_dnas.py [--repeats 5] [--threads 2]``.
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
from moo_nas.dnas.loss import LossConfig  # noqa: E402
from moo_nas.dnas.mixed_precision import attach  # noqa: E402
from moo_nas.dnas.search import SearchConfig, search  # noqa: E402
from moo_nas.dnas.supernet import MaskedNet  # noqa: E402
from moo_nas.spaces import make_space  # noqa: E402
from moo_nas.training import Recipe, host_device, train_epochs  # noqa: E402


def digits32() -> Task:
    t = load_task("digits")
    up = lambda x: F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)  # noqa: E731
    return replace(t, name="digits32", input_shape=(1, 32, 32), x_train=up(t.x_train),
                   x_val=up(t.x_val), x_test=up(t.x_test))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--spaces", nargs="+", default=["digits-cnn", "resnet8"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    task = digits32()
    recipe = Recipe(epochs=1, batch_size=64, lr=3e-3, threads=args.threads)
    mask_cfg = SearchConfig(search_epochs=1, loss=LossConfig("model_bytes", 0.5, 10.0, "macs", 0.5))
    mps_cfg = SearchConfig(search_epochs=1, loss=LossConfig("model_bytes", 0.5, 10.0, "bitops", 0.5))
    print(f"device: {host_device()}, torch {torch.__version__}, {args.threads} thread(s); "
          f"digits 32x32, {len(task.y_train)} train images, batch 64, median of {args.repeats}")
    for name in args.spaces:
        space = make_space(name, task.input_shape, task.num_classes)
        torch.manual_seed(0)
        plain = space.build(space.seed_genotype())
        masked = MaskedNet(space)
        mps = MaskedNet(space)
        attach(mps)
        modes = {
            "plain": lambda: train_epochs(plain, task, recipe, 0),
            "mask": lambda: search(masked, task, recipe, mask_cfg, 0),
            "mps": lambda: search(mps, task, recipe, mps_cfg, 0),
        }
        for fn in modes.values():  # warm-up (allocator, first-call overheads)
            fn()
        times: dict[str, list[float]] = {m: [] for m in modes}
        for _ in range(args.repeats):
            for m, fn in modes.items():
                t0 = time.perf_counter()
                fn()
                times[m].append(time.perf_counter() - t0)
        med = {m: statistics.median(v) for m, v in times.items()}
        print(f"{name:11s} plain {med['plain']:.3f} s/epoch | mask {med['mask']:.3f} s "
              f"({med['mask'] / med['plain']:.2f}x, target <= 1.10x) | mps {med['mps']:.3f} s "
              f"({med['mps'] / med['plain']:.2f}x, target <= 2.0x)")


if __name__ == "__main__":
    main()
