"""The one record of an evaluated genotype, from the evaluator to the store and back.

An :class:`~moo_nas.evaluator.Evaluator` fills what it knows (status, metric values with their
provenance, seconds of training and measurement, device); the engine adds where the record
sits in a run (run, sequence number, cache key, share of strategy time, cost, whether it was
reused) when it stores it; the store returns the same record.  Build it by keyword.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from .objectives import Value
from .space import Genotype, OptionValue

STATUSES = ("ok", "infeasible", "failed")


@dataclass
class Evaluation:
    """Everything known about one evaluated genotype.

    ``status``: ``ok``; ``infeasible`` (a bound was violated, before or after training; ``error``
    says which); ``failed`` (training diverged, the network could not be built, a worker was
    lost; ``error`` says why).  Times are seconds of the device that did the work; ``cost_s``
    is the search cost charged to the run (training + measurement + its share of the strategy's
    ask/tell time; a result reused from another run is charged the cost it originally had).
    """

    genotype_key: str
    genotype: dict[str, OptionValue]
    status: str
    values: dict[str, Value] = field(default_factory=dict)
    arch_key: str = ""
    train_s: float = 0.0
    measure_s: float = 0.0
    wall_s: float = 0.0
    device: str = ""
    error: str | None = None
    # where the record sits in a run (set by the engine when it is stored)
    run_id: int = 0
    seq: int = -1
    cache_key: str = ""
    strategy_s: float = 0.0
    cost_s: float = 0.0
    cached: bool = False
    finished: float = 0.0
    #: the run's clock when the result arrived: seconds its executor's workers had been
    #: running (simulated for table lookups, see :class:`moo_nas.executors.SimulatedExecutor`)
    clock_s: float = 0.0
    #: measurements the evaluator took afresh, by provider cache key, for the store to share
    #: with later evaluations of the same architecture (not stored with the record)
    fresh_measurements: dict[str, dict[str, Value]] = field(default_factory=dict, repr=False,
                                                             compare=False)

    @classmethod
    def of(cls, genotype: Genotype, status: str, **fields: Any) -> "Evaluation":
        """A new record for ``genotype`` (what an evaluator returns)."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        return cls(genotype_key=genotype.key, genotype=genotype.to_dict(), status=status, **fields)

    def value(self, name: str) -> float | None:
        """The value of metric ``name``, or None when it was not computed."""
        v = self.values.get(name)
        return None if v is None else v.value

    @property
    def work_s(self) -> float:
        """Seconds of training and measurement this evaluation took (0 when reused)."""
        return self.train_s + self.measure_s

    def placed(self, **where: Any) -> "Evaluation":
        """A copy placed in a run: ``run_id``, ``seq``, ``cache_key``, ``strategy_s``,
        ``cost_s``, ``cached`` … (a shallow copy with those fields replaced; unknown names are
        refused like :func:`dataclasses.replace` would)"""
        unknown = where.keys() - _FIELDS
        if unknown:
            raise TypeError(f"Evaluation has no field(s) {sorted(unknown)}")
        new = object.__new__(Evaluation)
        new.__dict__ = {**self.__dict__, **where}
        return new


_FIELDS = frozenset(f.name for f in fields(Evaluation))
