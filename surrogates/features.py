"""Feature vectors of architectures for the predictors.

:class:`SpaceEncoder` works for any :class:`~moo_nas.space.SearchSpace`: the space's own
numeric features (option values; labels by index), a one-hot column per label option, and a
summary of the layer description that costs nothing to compute — log analytic costs (params,
MACs, peak activation bytes), the number of convolutions and the summed kernel area.  Summary
columns make genotypes that differ only in inactive variables (blocks beyond ``depth``) look
alike, which the raw option values do not.

:func:`nb201_features` encodes a NAS-Bench-201 cell (six edge operations): one-hot operations
plus path statistics (live input-output paths, convolutions on them, longest path of
convolutions), all pure functions of the cell string.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from moo_nas import costs
from moo_nas.space import Choice, Genotype, SearchSpace


class SpaceEncoder:
    """Genotype -> feature row for one search space (see the module docstring)."""

    def __init__(self, space: SearchSpace, *, arch_summary: bool = True) -> None:
        self.space = space
        self.arch_summary = bool(arch_summary)
        self._labels = [
            (i, v) for i, v in enumerate(space.variables)
            if isinstance(v, Choice) and not all(isinstance(o, (int, float)) for o in v.options)
        ]
        self._cache: dict[str, np.ndarray] = {}

    def names(self) -> list[str]:
        out = list(self.space.feature_names())
        for _, v in self._labels:
            out += [f"{v.name}={o}" for o in v.options]
        if self.arch_summary:
            out += ["log_params", "log_macs", "log_peak_act", "n_conv", "kernel_area"]
        return out

    def _row(self, g: Genotype) -> np.ndarray:
        parts = [self.space.features(g)]
        for _, v in self._labels:
            hot = np.zeros(len(v))
            hot[v.index(g[v.name])] = 1.0
            parts.append(hot)
        if self.arch_summary:
            a = self.space.arch(g)
            convs = [op for op in a.ops if op.kind == "conv"]
            parts.append(np.array([
                math.log1p(float(costs.params(a))), math.log1p(float(costs.macs(a))),
                math.log1p(float(costs.peak_activation_bytes(a))), float(len(convs)),
                float(sum(math.prod(op.kernel) for op in convs)),
            ]))
        return np.concatenate(parts)

    def encode(self, genotypes: Sequence[Genotype]) -> np.ndarray:
        """Feature matrix, one row per genotype (rows are memoised by genotype key)."""
        rows = []
        for g in genotypes:
            row = self._cache.get(g.key)
            if row is None:
                row = self._cache[g.key] = self._row(g)
            rows.append(row)
        return np.array(rows, dtype=np.float64).reshape(len(rows), len(self.names()))


# ----------------------------------------------------------------------------- NAS-Bench-201
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# edge i of the cell string joins node NB201_EDGES[i][0] -> NB201_EDGES[i][1]
NB201_EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
# the four input->output paths as edge indices
NB201_PATHS = ((3,), (0, 4), (1, 5), (0, 2, 5))
_CONV = {2: 1.0, 3: 1.0}


class NB201Encoder:
    """Genotype -> :func:`nb201_features` for the table-only space ``nb201``."""

    def __init__(self, space: SearchSpace) -> None:
        from moo_nas.tabular.nb201 import EDGE_NAMES, OP_CODES

        if tuple(EDGE_NAMES) != tuple(f"edge_{j}_{i}" for i, j in NB201_EDGES) or \
                tuple(OP_CODES) != NB201_OPS:
            raise RuntimeError("moo_nas.tabular.nb201 edge or operation order changed")
        self.space = space
        self._edges = EDGE_NAMES

    def names(self) -> list[str]:
        return nb201_feature_names()

    def encode(self, genotypes: Sequence[Genotype]) -> np.ndarray:
        rows = [nb201_features([NB201_OPS.index(str(g[e])) for e in self._edges]) for g in genotypes]
        return np.array(rows, dtype=np.float64).reshape(len(rows), len(self.names()))


def make_encoder(space: SearchSpace) -> "SpaceEncoder | NB201Encoder":
    """The feature encoder for a space: cell features for ``nb201``, generic otherwise."""
    if space.name == "nb201":
        return NB201Encoder(space)
    return SpaceEncoder(space)


def nb201_feature_names() -> list[str]:
    names = [f"e{e}={op}" for e in range(6) for op in NB201_OPS]
    names += ["live_paths", "convs_on_live_paths", "conv3_on_live_paths",
              "longest_conv_path", "n_conv3", "n_conv1", "n_none", "n_pool", "n_skip",
              "input_connected"]
    return names


def nb201_features(ops: Sequence[int]) -> np.ndarray:
    """Features of one NAS-Bench-201 cell given its six operation indices (see NB201_OPS)."""
    ops = [int(o) for o in ops]
    if len(ops) != 6 or not all(0 <= o < 5 for o in ops):
        raise ValueError(f"a NAS-Bench-201 cell has six operations in 0..4, got {ops}")
    hot = np.zeros((6, 5))
    hot[np.arange(6), ops] = 1.0
    live = [p for p in NB201_PATHS if all(ops[e] != 0 for e in p)]
    used = {e for p in live for e in p}
    convs = sum(1 for e in used if ops[e] in _CONV)
    conv3 = sum(1 for e in used if ops[e] == 3)
    longest = max((sum(1 for e in p if ops[e] in _CONV) for p in live), default=0)
    extra = [len(live), convs, conv3, longest, ops.count(3), ops.count(2), ops.count(0),
             ops.count(4), ops.count(1), float(bool(live))]
    return np.concatenate([hot.ravel(), np.array(extra, dtype=float)])
