"""Host calibration benchmark: onnxruntime latency of digits-cnn and resnet8 networks.

For each space, measures K random networks with the ``onnxruntime`` provider, fits the
linear calibration on 75 % of them and reports, side by side from the same run:

* held-out MAPE and R^2 of the calibrated predictor (target: MAPE <= 10 %);
* seconds per network of measuring (export + session + timed runs) vs predicting from the
  genotype (layer description + features + dot product), and their ratio (target >= 100x).

Usage::

    python bench/bench_calibration.py [--k 80] [--seed 0] [--repeats 100] [--out DIR]

The timing protocol is batch 1, 10 warm-up runs, ``--repeats`` timed runs, 1 intra-op thread,
statistic ``min`` (the repeat least disturbed by other processes: this host is shared, and
contention only ever adds time).  Calibration files are written to ``--out`` when given.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from moo_nas.hardware.calibration import calibrate
from moo_nas.hardware.onnx_runtime import OnnxRuntimeLatency
from moo_nas.spaces import make_space

SPACES = (("digits-cnn", (1, 8, 8)), ("resnet8", (3, 32, 32)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=80)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=100)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    provider = OnnxRuntimeLatency(batch=1, warmup=10, repeats=args.repeats, threads=1,
                                  statistic="min")
    rows = []
    for name, shape in SPACES:
        space = make_space(name, shape, 10)
        t0 = time.perf_counter()
        res = calibrate(space, provider, "latency_ort_ms", k=args.k, seed=args.seed)
        wall = time.perf_counter() - t0
        ys = [s.value for s in res.train + res.test]
        rows.append((name, shape, res, wall, min(ys), max(ys)))
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            res.model.save(args.out / f"calibration_{name}_ort.json")
    print(f"protocol: {rows[0][2].model.measured_by}")
    print(f"K = {args.k} networks per space, seed {args.seed}, 75 % train / 25 % held-out\n")
    print("| space | input | latency range (ms) | held-out MAPE | R^2 | measure / net | "
          "predict / net | speed-up | MAPE <= 10 % | speed-up >= 100x |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    ok = True
    for name, shape, res, wall, lo, hi in rows:
        good_mape, good_speed = res.mape <= 10.0, res.speedup >= 100.0
        ok &= good_mape and good_speed
        print(f"| {name} | {'x'.join(map(str, shape))} | {lo:.4f}-{hi:.4f} | {res.mape:.2f} % | "
              f"{res.r2:.3f} | {res.measure_seconds_per_net * 1e3:.1f} ms | "
              f"{res.predict_seconds_per_net * 1e3:.3f} ms | {res.speedup:.0f}x | "
              f"{'yes' if good_mape else 'NO'} | {'yes' if good_speed else 'NO'} |")
    print()
    for name, _, res, wall, *_ in rows:
        nz = {f: c for f, c in zip(res.model.features, res.model.coef) if c > 0}
        terms = ", ".join(f"{f}={c:.3g}" for f, c in sorted(nz.items()))
        print(f"{name}: intercept {res.model.intercept:.4g} ms; {terms}; bench wall {wall:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
