import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

torch.set_num_threads(1)


@pytest.fixture
def tmp_store(tmp_path):
    from moo_nas.store import Store

    s = Store(tmp_path / "store.sqlite")
    yield s
    s.close()
