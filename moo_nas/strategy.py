"""The ask/tell :class:`Strategy` interface every search strategy implements.

The engine repeatedly calls :meth:`Strategy.ask` for a batch of genotypes, evaluates them (or
takes them from the store), and calls :meth:`Strategy.tell` with one :class:`Observation` per
asked genotype, in the same order.

These interfaces belong to the engine; the implementations live in the top-level
``strategies`` package and are found by name through :data:`moo_nas.registry.STRATEGIES`.

Determinism and resume: a strategy must draw all randomness from ``self.rng`` (or generators
seeded from ``self.seed``), so the same seed and the same observations give the same
proposals.  The engine resumes a killed run by re-creating the strategy with its seed and
replaying the recorded asks and tells in their recorded order (event sourcing), so a
strategy's state needs no pickling.

Must implement: ``name``, ``description``, :meth:`ask`, :meth:`tell`.
Optional hooks: :meth:`replay_ask`, :meth:`batch_size`, :meth:`finished`,
:meth:`planned_evaluations`, :meth:`warm_start`, :meth:`stats`.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

import numpy as np

from .errors import UserError
from .objectives import Objective
from .space import Genotype, SearchSpace

if TYPE_CHECKING:  # pragma: no cover
    from .data import Task
    from .records import Evaluation
    from .training import Recipe


@dataclass
class Problem:
    """What a strategy searches: the space, the objectives (with bounds) and, for strategies
    that train networks themselves (DNAS), the task and the training recipe."""

    space: SearchSpace
    objectives: tuple[Objective, ...]
    task: "Task | None" = None
    recipe: "Recipe | None" = None

    @property
    def n_obj(self) -> int:
        return len(self.objectives)

    @property
    def constrained(self) -> tuple[Objective, ...]:
        return tuple(o for o in self.objectives if o.bound is not None)


@dataclass
class Observation:
    """The result of one asked genotype as a strategy sees it.

    ``f`` is the objective vector in minimisation form (None when the evaluation failed),
    ``g`` the constraint values (<= 0 feasible, one per bounded objective), ``status`` one of
    ``ok``, ``infeasible`` (rejected by a bound before training; ``f`` holds the metrics known
    then and worst values for the rest) or ``failed``.
    """

    genotype: Genotype
    f: np.ndarray | None
    g: np.ndarray
    status: str
    evaluation: "Evaluation | None" = None

    @property
    def feasible(self) -> bool:
        return self.status == "ok" and bool(np.all(self.g <= 0))


class Strategy(ABC):
    """Base class of search strategies (see the module docstring for the contract)."""

    name: ClassVar[str]
    description: ClassVar[str]
    #: True when the strategy works asynchronously: asked for one genotype at a time while
    #: others are still being evaluated, told each result as it arrives, in any order.  With
    #: ``workers > 1`` the engine then keeps that many evaluations in flight; a strategy that
    #: is not asynchronous is run in synchronous batches (each batch evaluated in parallel).
    asynchronous: ClassVar[bool] = False
    #: True when ask/tell compute heavily on the device (``dnas`` trains a supernet inside
    #: ``ask``; the Bayesian strategies fit models and optimise an acquisition): the engine then
    #: charges their time on the device clock training is charged on (process CPU time on a
    #: CPU, :func:`moo_nas.training.device_seconds`) instead of wall time, so it shares one cost
    #: axis with the evaluations and does not grow with the machine's load.
    device_clock: ClassVar[bool] = False
    #: True when the proposals never depend on what is told: ``ask(n)`` returns the same
    #: genotypes as ``n`` asks of one with tells in between (``random``).  For evaluations that
    #: cost nothing to redo (table lookups) the engine then asks for many at once.
    ask_ahead: ClassVar[bool] = False
    #: genotypes asked and not yet told (being evaluated), set by the engine before each ask
    pending: tuple[Genotype, ...] = ()

    def __init__(self, problem: Problem, seed: int = 0) -> None:
        self.problem = problem
        self.space = problem.space
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)

    # ------------------------------------------------------------------ required
    @abstractmethod
    def ask(self, n: int) -> list[Genotype]:
        """Return up to ``n`` genotypes to evaluate next (fewer only when finished)."""

    @abstractmethod
    def tell(self, observations: Sequence[Observation]) -> None:
        """Receive the observations of the last asked batch, in ask order."""

    # ------------------------------------------------------------------ optional hooks
    def replay_ask(self, n: int, stored: Sequence[Genotype]) -> list[Genotype]:
        """Called instead of :meth:`ask` while a resumed run replays its stored history;
        ``stored`` are the genotypes this ask returned originally.  The default re-asks (and
        the engine checks the answer is the same); a strategy whose ask is expensive (DNAS
        training a supernet) may advance its state and return ``stored`` instead."""
        return self.ask(n)

    def batch_size(self) -> int:
        """Preferred number of genotypes per ask (population strategies: the offspring size)."""
        return 1

    def finished(self) -> bool:
        """True when the strategy has nothing more to propose (e.g. a DNAS sweep is done)."""
        return False

    def warm_start(self, genotype: Genotype) -> dict[str, Any] | None:
        """Trained weights (a state dict) to start the evaluation of ``genotype`` from, or None."""
        return None

    def stats(self) -> dict[str, float]:
        """Counters the strategy wants in the report (e.g. candidates rejected before
        training); stored with the run when it ends."""
        return {}

    def planned_evaluations(self) -> int | None:
        """How many genotypes the strategy will propose in all, when it knows (a DNAS sweep
        of 8 points: 8); None when it proposes until the budget ends.  Progress bars use it."""
        return None

    # ------------------------------------------------------------------ helpers
    @classmethod
    def option_names(cls) -> list[str]:
        """Keyword options accepted by the constructor (besides problem and seed)."""
        params = inspect.signature(cls.__init__).parameters
        return [p for p in params if p not in ("self", "problem", "seed")
                and params[p].kind == inspect.Parameter.KEYWORD_ONLY]

    @classmethod
    def create(cls, problem: Problem, seed: int, options: dict[str, Any]) -> "Strategy":
        """Construct with validated options (unknown ones are a :class:`UserError`)."""
        allowed = cls.option_names()
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise UserError(
                f"strategy {cls.name!r} has no option(s) {unknown}; "
                f"its options are: {', '.join(allowed) or 'none'}."
            )
        try:
            return cls(problem, seed, **options)
        except (TypeError, ValueError) as exc:
            raise UserError(f"bad options for strategy {cls.name!r}: {exc}.") from None


def worst_fill(problem: Problem, f: np.ndarray | None) -> np.ndarray:
    """Objective vector for population methods: failed evaluations get a large finite value."""
    if f is None:
        return np.full(problem.n_obj, 1e12)
    return np.where(np.isfinite(f), f, 1e12)
