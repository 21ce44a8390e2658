"""Search strategies: one module per strategy, registered here by name.

To add a strategy, subclass :class:`strategies.base.Strategy` in a new module of this package
and add one line ``"name": "strategies.module:ClassName"`` to :data:`REGISTRY`.  Modules are
imported lazily, so a strategy's optional dependencies are only needed when it is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from moo_nas.errors import unknown_name

if TYPE_CHECKING:  # pragma: no cover
    from .base import Strategy

REGISTRY: dict[str, str] = {
    "random": "strategies.random_search:RandomSearch",
    "nsga2": "strategies.nsga2:NSGA2",
    "spea2": "strategies.deap_moea:SPEA2",
    "nsga3": "strategies.deap_moea:NSGA3",
    "aging-evolution": "strategies.aging_evolution:AgingEvolution",
    "rl": "strategies.rl:REINFORCE",
    "mobo": "strategies.mobo:ParEGO",
    "qnehvi": "strategies.botorch_mobo:QNEHVI",
    "qnparego": "strategies.botorch_mobo:QNParEGO",
    "optuna": "strategies.optuna_adapter:OptunaSampler",
    "optuna-tpe": "strategies.optuna_adapter:OptunaTPE",
    "optuna-gp": "strategies.optuna_adapter:OptunaGP",
    "dnas": "strategies.dnas:DNAS",
    "surrogate-nsga2": "strategies.surrogate_nsga2:SurrogateNSGA2",
    "narrow": "strategies.narrow:NarrowSearch",
}


def get_strategy(name: str) -> "type[Strategy]":
    """The strategy class registered as ``name``."""
    if name not in REGISTRY:
        raise unknown_name("strategy", name, REGISTRY)
    module, cls = REGISTRY[name].split(":")
    return getattr(import_module(module), cls)


def available() -> dict[str, str]:
    """Map of strategy name to its one-line description."""
    return {name: get_strategy(name).description for name in sorted(REGISTRY)}
