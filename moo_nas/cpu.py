"""CPU settings of the work that trains and measures networks: torch's thread count and the
C allocator.

:func:`torch_threads` runs a block on a given number of torch threads (restored afterwards) and, the
first time it is used in a process, calls :func:`tune_allocator`.  Every training loop and
host-latency measurement of moo_nas runs inside it, so all of them see the same allocator
settings, whichever ran first.

Why the allocator: glibc serves every allocation above its mmap threshold (128 KiB to start,
raised dynamically up to 32 MiB) with a fresh ``mmap`` and returns it on free, so a training
step whose activations are a few MiB each faults in and zeroes new pages for every one of
them, every step; with its top-of-heap trimming it does the same to heap memory.  Measured
here with ``python bench/bench_allocator.py --rounds 4`` (2026-12-07, 2-core AMD EPYC; one
epoch of digits at 32x32, batch 64, 2 threads, in 4 child processes per setting, alternating):
plain training epochs of resnet8 and digits-cnn 15 % and 11 % shorter with the thresholds
below, DNAS mask-search epochs 13 % and 12 % shorter.  jemalloc and tcmalloc, which PyTorch's
CPU performance guide recommends, keep freed memory for reuse in the same way.

The thresholds are left alone when the user set glibc's own environment variables
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_``) or
``MOO_NAS_ALLOCATOR=default``, and on a C library other than glibc.
"""

from __future__ import annotations

import ctypes
import os
from contextlib import contextmanager
from typing import Iterator

import torch

#: allocations below this many bytes come from the heap (glibc default: 128 KiB, dynamic)
MMAP_THRESHOLD = 64 << 20
#: free memory at the top of the heap kept for reuse instead of returned to the system
TRIM_THRESHOLD = 256 << 20

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers
_USER_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")
_state: dict[str, bool] = {}


def tune_allocator() -> bool:
    """Fix glibc's mmap and trim thresholds at :data:`MMAP_THRESHOLD` and
    :data:`TRIM_THRESHOLD` for this process (once; later calls return the first answer).
    Returns True when they were set, False when left alone (see the module docstring)."""
    if "tuned" in _state:
        return _state["tuned"]
    tuned = False
    if os.environ.get("MOO_NAS_ALLOCATOR", "") != "default" and not any(
            v in os.environ for v in _USER_VARS):
        try:
            # the symbols the Python process already has (its C library among them): no search
            # for the library file (``ctypes.util.find_library`` runs ``ldconfig``)
            libc = ctypes.CDLL(None)
            # gnu_get_libc_version exists only in glibc (musl has a mallopt that does nothing)
            if hasattr(libc, "gnu_get_libc_version"):
                tuned = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
                    libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
        except (OSError, TypeError):  # (no C library to open by None, e.g. on Windows)
            tuned = False
    _state["tuned"] = tuned
    return tuned


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block on ``n`` torch threads (the previous count is restored afterwards), with
    the allocator tuned (:func:`tune_allocator`)."""
    tune_allocator()
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
