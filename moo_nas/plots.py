"""Figures of the reports: matplotlib without a display, and writing a finished figure.

Used by every module that draws (:mod:`moo_nas.report`, :mod:`moo_nas.statistics`, the table
study's report, the surrogate evaluation).  matplotlib is imported on first use only: it is
slow to import, and most commands draw nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend (no display needed); call it where a
    figure is drawn, not at import time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Lay ``fig`` out tightly, write it to ``path`` (the format from the suffix; missing folders
    are created) and close it; returns the path written."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path
