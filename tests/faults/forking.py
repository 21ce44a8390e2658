"""Run a function in a forked child: what ``kill -9`` leaves is what ``os._exit`` leaves."""

from __future__ import annotations

import os
from typing import Callable


def in_child(fn: Callable[[], object]) -> int:
    """Run ``fn`` in a forked child; return its exit status (0: returned, 1: raised, or the
    code it called ``os._exit`` with)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            fn()
        except BaseException:
            os._exit(1)
        os._exit(0)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
