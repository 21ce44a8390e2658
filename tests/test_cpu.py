"""moo_nas.cpu: thread counts restored, the allocator tuned once per process (glibc) and left
alone when the user configured it."""

import os
import platform
import subprocess
import sys

import pytest
import torch

from moo_nas.cpu import torch_threads

PROBE = ("from moo_nas.cpu import tune_allocator; "
         "print(tune_allocator(), tune_allocator())")


def _probe(**env: str) -> str:
    full = {k: v for k, v in os.environ.items()
            if not k.startswith("MALLOC_") and k != "MOO_NAS_ALLOCATOR"}
    full.update(env)
    out = subprocess.run([sys.executable, "-c", PROBE], env=full, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def test_torch_threads_sets_and_restores_the_count() -> None:
    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    with torch_threads(other):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with torch_threads(other):
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="the allocator settings are glibc's")
def test_allocator_is_tuned_on_glibc_unless_the_user_set_it() -> None:
    assert _probe() == "True True"
    assert _probe(MALLOC_MMAP_THRESHOLD_="131072") == "False False"
    assert _probe(MALLOC_TRIM_THRESHOLD_="131072") == "False False"
    assert _probe(MOO_NAS_ALLOCATOR="default") == "False False"
