"""Do Pareto-optimal networks differ from one device to another?  True fronts per device, their
overlap, and how well one device's choice serves another, next to the noise of training.

Inputs are tables (:class:`~moo_nas.tabular.table.Table` with one row per architecture, e.g.
:meth:`Table.mean_over_seeds` or :meth:`Table.seed_view`) and, per device, its objectives (shared
ones such as ``val_error`` plus the device's latency / energy).  Only ``ok`` rows count, so cells
excluded by a rule (status ``infeasible``) take no part in any front or normalisation.

Definitions (all hypervolumes after normalising each objective between the ideal and nadir of
the evaluating device's own true front, reference point 1.1, as in the comparator):

* true Pareto set P_A: every architecture whose objective vector on A no other dominates
  (weakly non-dominated, so ties are all kept);
* Jaccard(A, B) = |P_A ∩ P_B| / |P_A ∪ P_B|;
* transfer T[A, B] = HV on B of P_A / HV on B of P_B (1 on the diagonal; < 1 when A's choice
  misses part of B's front);
* noise floor N[B] = HV on B, under training seed s', of the set chosen for B under seed s,
  divided by the HV of B's own front under s' — what changing only the training seed costs;
* cross-seed transfer X[A, B]: the same with the set chosen for A under seed s, so X and N differ
  only by the device the set was chosen for.  Averaged over the orders (s, s') and (s', s).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations
from typing import Mapping, Sequence

import moocore
import numpy as np

from ..comparator import Normalisation
from ..objectives import Objective
from .table import Table


@dataclass(frozen=True)
class DeviceView:
    """One device's objective vectors of every counted architecture, and its true front."""

    device: str
    objectives: tuple[Objective, ...]
    keys: tuple[str, ...]
    points: np.ndarray
    pareto: np.ndarray  # row indices of the true Pareto set
    norm: Normalisation

    def rows(self, keys: Sequence[str]) -> np.ndarray:
        pos = {k: i for i, k in enumerate(self.keys)}
        return np.array([pos[k] for k in keys if k in pos], dtype=int)

    def pareto_keys(self) -> list[str]:
        return [self.keys[i] for i in self.pareto]

    def hv_of(self, keys: Sequence[str]) -> float:
        """Hypervolume on this device of the architectures ``keys``."""
        return self.norm.hypervolume(self.points[self.rows(keys)])

    @property
    def front_hv(self) -> float:
        return self.norm.hypervolume(self.points[self.pareto])


def device_view(table: Table, device: str, objectives: Sequence[Objective]) -> DeviceView:
    """The true front of ``device`` over every ``ok`` architecture of ``table``."""
    keys, pts = table.matrix(objectives)
    mask = moocore.is_nondominated(np.array(pts, copy=True), keep_weakly=True)
    front = pts[mask]
    return DeviceView(device, tuple(objectives), tuple(keys), pts, np.flatnonzero(mask),
                      Normalisation(front.min(axis=0), front.max(axis=0)))


@dataclass(frozen=True)
class TransferStudy:
    """Everything :func:`analyse` measures, indexed by ``devices`` order."""

    devices: tuple[str, ...]
    views: dict[str, DeviceView]
    jaccard: np.ndarray
    transfer: np.ndarray
    noise: np.ndarray        # (devices, orders): N[B] per seed order
    cross: np.ndarray        # (devices, devices, orders): X[A, B] per seed order
    seeds: tuple[int, int]

    def noise_floor(self) -> np.ndarray:
        return self.noise.mean(axis=1)

    def cross_transfer(self) -> np.ndarray:
        return self.cross.mean(axis=2)

    def beyond_noise(self, a: int, b: int) -> bool:
        """Whether A's choice loses more on B than a change of training seed does, in both seed
        orders: the device effect is larger than the accuracy noise."""
        return bool(np.all(self.cross[a, b] < self.noise[b]))


def analyse(table: Table, seed_tables: Mapping[int, Table],
            objectives: Mapping[str, Sequence[Objective]]) -> TransferStudy:
    """Jaccard, transfer and noise-floor matrices for the devices of ``objectives`` (device ->
    its objectives), true fronts from ``table``, noise from the two ``seed_tables``."""
    devices = tuple(objectives)
    views = {d: device_view(table, d, objectives[d]) for d in devices}
    n = len(devices)
    jac = np.ones((n, n))
    tr = np.ones((n, n))
    for i, a in enumerate(devices):
        pa = set(views[a].pareto_keys())
        for j, b in enumerate(devices):
            pb = set(views[b].pareto_keys())
            jac[i, j] = len(pa & pb) / len(pa | pb)
            tr[i, j] = views[b].hv_of(sorted(pa)) / views[b].front_hv
    seeds = tuple(sorted(seed_tables))
    if len(seeds) != 2:
        raise ValueError("the noise floor needs exactly two training seeds")
    per_seed = {s: {d: device_view(seed_tables[s], d, objectives[d]) for d in devices}
                for s in seeds}
    orders = list(permutations(seeds, 2))
    noise = np.zeros((n, len(orders)))
    cross = np.zeros((n, n, len(orders)))
    for o, (s, t) in enumerate(orders):
        for j, b in enumerate(devices):
            vb = per_seed[t][b]
            for i, a in enumerate(devices):
                cross[i, j, o] = vb.hv_of(per_seed[s][a].pareto_keys()) / vb.front_hv
            noise[j, o] = cross[j, j, o]
    return TransferStudy(devices, views, jac, tr, noise, cross, seeds)


def verdict(study: TransferStudy, a: int, b: int) -> str:
    """One sentence on whether 'the optimal networks differ from one platform to another'
    (TEA-DNN) holds between devices ``a`` and ``b`` beyond the training noise."""
    da, db = study.devices[a], study.devices[b]
    x, nf = study.cross_transfer(), study.noise_floor()
    parts = []
    for i, j in ((a, b), (b, a)):
        held = study.beyond_noise(i, j)
        parts.append(f"{study.devices[i]}'s front keeps {x[i, j]:.3f} of {study.devices[j]}'s HV "
                     f"across seeds vs noise floor {nf[j]:.3f} ({'beyond' if held else 'within'} noise)")
    both = study.beyond_noise(a, b), study.beyond_noise(b, a)
    if all(both):
        head = f"**{da} / {db}: holds** in both directions"
    elif any(both):
        head = f"**{da} / {db}: holds in one direction only**"
    else:
        head = f"**{da} / {db}: does not hold** beyond noise"
    return (f"{head} (Jaccard {study.jaccard[a, b]:.2f}, transfer {study.transfer[a, b]:.3f} / "
            f"{study.transfer[b, a]:.3f}): " + "; ".join(parts) + ".")
