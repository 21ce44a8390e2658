"""Training step time with glibc's default allocator settings against moo_nas's
(:func:`moo_nas.cpu.tune_allocator`), side by side.

The setting is per process and cannot be undone, so each measurement is a child process run
with ``MOO_NAS_ALLOCATOR=default`` or without it, the two alternating ``--rounds`` times.  A
child times, per space, plain training steps of the seed network and DNAS mask-search steps
(:func:`moo_nas.dnas.profile.dnas_steppers`, interleaved batch by batch as in
``bench/bench_dnas.py``: digits 32x32, batch 64, 2 threads) over one epoch after a warm-up
epoch.  Printed: per space and mode the median epoch time of each setting and their ratio, and
the mask / plain ratio under each setting.

    python bench/bench_allocator.py [--rounds 3] [--spaces resnet8 digits-cnn]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from moo_nas.errors import main_or_exit
from moo_nas.registry import SPACES


def child(spaces: list[str], threads: int) -> None:
    import torch

    from moo_nas.cpu import tune_allocator
    from moo_nas.data import load_task
    from moo_nas.dnas.profile import dnas_steppers, interleaved_epochs, upsampled
    from moo_nas.spaces import make_space
    from moo_nas.training import Recipe, recipe_steps

    tuned = tune_allocator()
    torch.set_num_threads(threads)
    task = upsampled(load_task("digits"), 32)
    n = len(task.y_train)
    recipe = Recipe(epochs=1, batch_size=64, lr=3e-3, threads=threads)
    out: dict[str, dict[str, float]] = {}
    for name in spaces:
        space = make_space(name, task.input_shape, task.num_classes)
        steppers = dnas_steppers(space, recipe, recipe_steps(recipe, n) * 2, seed=0)
        steppers.pop("mps")
        times = interleaved_epochs(steppers, task, 64, 2, n, seed=0)
        out[name] = {m: t[1] for m, t in times.items()}  # the first epoch warms up
    print(json.dumps({"tuned": tuned, "epochs": out}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--spaces", nargs="+", default=["resnet8", "digits-cnn"])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.spaces, args.threads)
        return
    if args.rounds < 1 or args.threads < 1:
        ap.error("--rounds and --threads must be at least 1")
    for name in args.spaces:
        SPACES.get(name)  # an unknown name: one sentence here, not a failed child
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("MOO_NAS_ALLOCATOR", None)
    cmd = [sys.executable, __file__, "--child", "--threads", str(args.threads),
           "--spaces", *args.spaces]
    runs: dict[str, list[dict[str, dict[str, float]]]] = {"default": [], "tuned": []}
    for r in range(args.rounds):
        for setting in (("default", "tuned") if r % 2 == 0 else ("tuned", "default")):
            e = dict(env, MOO_NAS_ALLOCATOR="default") if setting == "default" else env
            res = json.loads(subprocess.run(cmd, env=e, capture_output=True, text=True,
                                            check=True).stdout.strip().splitlines()[-1])
            if res["tuned"] != (setting == "tuned"):
                raise SystemExit(f"bench_allocator: the child's allocator was not {setting}")
            runs[setting].append(res["epochs"])
    print(f"epoch seconds, median of {args.rounds} child processes per setting (alternating), "
          f"digits 32x32, batch 64, {args.threads} thread(s); glibc default vs moo_nas.cpu "
          f"(mmap threshold 64 MiB, trim threshold 256 MiB)")
    for name in args.spaces:
        med = {s: {m: statistics.median(r[name][m] for r in runs[s]) for m in ("plain", "mask")}
               for s in runs}
        for m in ("plain", "mask"):
            print(f"{name:12s} {m:5s}  default {med['default'][m]:.3f} s  tuned "
                  f"{med['tuned'][m]:.3f} s  tuned/default {med['tuned'][m] / med['default'][m]:.3f}")
        print(f"{name:12s} mask/plain  default {med['default']['mask'] / med['default']['plain']:.3f}"
              f"  tuned {med['tuned']['mask'] / med['tuned']['plain']:.3f}")


if __name__ == "__main__":
    main_or_exit(main, "bench_allocator.py")
