"""Cost of number-format emulation, measured side by side in one run.

For an activation tensor of a resnet8 layer (batch 32, 16 x 28 x 28, float32) prints the time
of each format's rounding, its ratio to torch's native fp16 round trip (the cheapest exact
emulation there is) and to one 3x3 convolution of that tensor (what the rounding is added
to), all on one thread, median of repeated runs.

    python bench/bench_formats.py
"""

from __future__ import annotations

import statistics

import torch

from moo_nas.errors import main_or_exit
from moo_nas.formats import get_format
from moo_nas.hardware.host import time_call


def median_ms(fn, repeats: int = 60) -> float:
    """Median of ``repeats`` timed calls after 5 warm-up calls, in milliseconds."""
    return statistics.median(time_call(fn, 5, repeats)) * 1e3


def main() -> None:
    torch.set_num_threads(1)
    x = torch.randn(32, 16, 28, 28, generator=torch.Generator().manual_seed(0))
    conv = torch.nn.Conv2d(16, 16, 3, padding=1)
    with torch.no_grad():
        conv_ms = median_ms(lambda: conv(x))
    native = median_ms(lambda: x.to(torch.float16).to(torch.float32))
    print(f"tensor {tuple(x.shape)}, 1 thread; conv3x3 16->16: {conv_ms:.3f} ms; "
          f"native fp16 round trip: {native:.3f} ms")
    print(f"{'format':8s} {'ms':>8s} {'x fp16 cast':>12s} {'x conv':>8s}")
    for name in ("fp16", "bf16", "e5m6", "e4m3", "e5m2", "e8m3", "int8", "int4"):
        fmt = get_format(name)
        ms = median_ms(lambda: fmt.round(x))
        print(f"{name:8s} {ms:8.3f} {ms / native:12.2f} {ms / conv_ms:8.2f}")


if __name__ == "__main__":
    main_or_exit(main, "bench_formats.py")
