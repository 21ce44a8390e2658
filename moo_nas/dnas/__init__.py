"""Gradient-based (mask) NAS on the built-in search spaces.

Modules, in the order a search uses them:

* :mod:`~moo_nas.dnas.plan` - probes a space around its seed and binds every decision variable
  to a channel group, a kernel choice or the depth (no per-space code);
* :mod:`~moo_nas.dnas.masks` - binarised masks with straight-through gradients;
* :mod:`~moo_nas.dnas.supernet` - :class:`MaskedNet`, the seed with masks, and its
  differentiable costs (same formulas as the objectives, on effective layer sizes);
* :mod:`~moo_nas.dnas.loss` - the multi-complexity loss and the available cost functions;
* :mod:`~moo_nas.dnas.mixed_precision` - channel-wise mixed-precision search;
* :mod:`~moo_nas.dnas.export` - masks -> genotype of the same space + trained weights;
* :mod:`~moo_nas.dnas.search` - warm-up, search, memory-target projection, export, fine-tune.

The engine-facing strategy is :class:`strategies.dnas.DNAS` (registered as ``dnas``).
"""

from .export import Exported, export
from .loss import LossConfig
from .search import PointResult, SearchConfig, run_point, warmup
from .supernet import MaskedNet

__all__ = ["Exported", "LossConfig", "MaskedNet", "PointResult", "SearchConfig",
           "export", "run_point", "warmup"]
