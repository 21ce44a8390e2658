"""One registry mechanism for every kind of plug-in, found by name.

Each :class:`Registry` maps a name to a lazy ``"module:attribute"`` reference (or to an object
registered at run time).  Nothing is imported until a name is looked up, so listing names is
cheap and never depends on which module happened to be imported first.  Third-party packages add
plug-ins without editing this repository through Python entry points: a distribution that
declares, e.g.::

    [options.entry_points]
    moo_nas.strategies =
        greedy = my_package.greedy:Greedy

makes ``greedy`` a strategy name like the built-ins (entry points are read once, on the first
listing or unknown-name lookup).

Registries (kind → entry-point group):

==================  ======================  =============================================
``STRATEGIES``      ``moo_nas.strategies``  :class:`moo_nas.strategy.Strategy` subclasses
``SPACES``          ``moo_nas.spaces``      :class:`moo_nas.space.SearchSpace` subclasses
``TASKS``           ``moo_nas.tasks``       :class:`moo_nas.data.TaskDef` (loader + text)
``PROVIDERS``       ``moo_nas.providers``   :class:`moo_nas.objectives.MetricProvider`
``PREDICTORS``      ``moo_nas.predictors``  surrogate predictor classes
``EXECUTORS``       ``moo_nas.executors``   :class:`moo_nas.executors.Executor` subclasses
``DNAS_COSTS``      ``moo_nas.dnas_costs``  differentiable cost functions of the DNAS
==================  ======================  =============================================
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, Generic, Iterator, TypeVar

from .errors import UserError, unknown_name

T = TypeVar("T")


class Registry(Generic[T]):
    """Names of one kind of plug-in, each resolved lazily from ``"module:attribute"``."""

    def __init__(self, kind: str, group: str, builtins: dict[str, str]) -> None:
        self.kind = kind
        self.group = group
        self._refs: dict[str, str | T] = dict(builtins)
        self._loaded: dict[str, T] = {}
        self._entry_points_read = False

    # ------------------------------------------------------------------ adding
    def register(self, name: str, target: "str | T") -> None:
        """Add (or replace) ``name``: a ``"module:attribute"`` string or the object itself."""
        self._refs[name] = target
        self._loaded.pop(name, None)

    # ------------------------------------------------------------------ looking up
    def _read_entry_points(self) -> None:
        if self._entry_points_read:
            return
        self._entry_points_read = True
        for ep in entry_points(group=self.group):
            self._refs.setdefault(ep.name, ep.value)

    def names(self) -> list[str]:
        """Every registered name, built-in and from entry points, sorted."""
        self._read_entry_points()
        return sorted(self._refs)

    def __contains__(self, name: object) -> bool:
        if name in self._refs:
            return True
        self._read_entry_points()
        return name in self._refs

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def get(self, name: str) -> T:
        """The object registered as ``name``; an unknown name is a :class:`UserError` with a
        close-match suggestion."""
        if name in self._loaded:
            return self._loaded[name]
        if name not in self:
            raise unknown_name(self.kind, name, self.names())
        ref = self._refs[name]
        obj = _resolve(ref) if isinstance(ref, str) else ref
        self._loaded[name] = obj
        return obj

    def items(self) -> list[tuple[str, T]]:
        """(name, object) for every name; imports each plug-in."""
        return [(n, self.get(n)) for n in self.names()]


def _resolve(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    if not attr:
        raise ValueError(f"registry reference {ref!r} is not 'module:attribute'")
    try:
        obj: Any = import_module(module)
    except ImportError as exc:
        raise UserError(f"{ref} cannot be imported ({exc}); install the package it needs.") from None
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


STRATEGIES: Registry[Any] = Registry("strategy", "moo_nas.strategies", {
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
})

SPACES: Registry[Any] = Registry("space", "moo_nas.spaces", {
    "digits-cnn": "moo_nas.spaces.digits_cnn:DigitsCNN",
    "resnet8": "moo_nas.spaces.resnet8:ResNet8",
    "dscnn": "moo_nas.spaces.dscnn:DSCNN",
    "mobilenetv1": "moo_nas.spaces.mobilenetv1:MobileNetV1",
    "fc-autoencoder": "moo_nas.spaces.fc_autoencoder:FCAutoencoder",
    "traced": "moo_nas.byo.space:TracedSpace",
    "nb201": "moo_nas.tabular.nb201:NB201Space",
})

TASKS: Registry[Any] = Registry("task", "moo_nas.tasks", {
    "digits": "moo_nas.data:DIGITS",
    "fashion-mnist": "moo_nas.data:FASHION_MNIST",
    "cifar10": "moo_nas.data:CIFAR10",
    "basic-motions": "moo_nas.data:BASIC_MOTIONS",
})

PROVIDERS: Registry[Any] = Registry("metric provider", "moo_nas.providers", {
    "analytic": "moo_nas.objectives:AnalyticProvider",
    "host-torch": "moo_nas.hardware.host:HostTorchLatency",
    "mcu": "moo_nas.hardware.mcu:McuProvider",
    "onnxruntime": "moo_nas.hardware.onnx_runtime:OnnxRuntimeLatency",
    "calibrated": "moo_nas.hardware.calibration:CalibratedPredictor",
    "table": "moo_nas.tabular.metrics:TableMetrics",
    "external": "moo_nas.hardware.external:ExternalDevice",
    "gpu-cuda": "moo_nas.hardware.gpu:LATENCY_PROVIDER",
    "gpu-nvml": "moo_nas.hardware.gpu:ENERGY_PROVIDER",
    "rapl": "moo_nas.hardware.rapl:ENERGY_PROVIDER",
})

PREDICTORS: Registry[Any] = Registry("predictor", "moo_nas.predictors", {
    "gp": "surrogates.models:GPPredictor",
    "rf": "surrogates.models:RFPredictor",
    "et": "surrogates.models:ETPredictor",
    "gbdt": "surrogates.models:GBDTPredictor",
    "mlp": "surrogates.models:MLPPredictor",
    "knn": "surrogates.models:KNNPredictor",
    "bayes-ridge": "surrogates.models:BayesRidgePredictor",
    "bootstrap": "surrogates.models:BootstrapPredictor",
    "combo": "surrogates.models:ComboPredictor",
})

EXECUTORS: Registry[Any] = Registry("executor", "moo_nas.executors", {
    "local": "moo_nas.executors:LocalExecutor",
    "simulated": "moo_nas.executors:SimulatedExecutor",
    "ray": "moo_nas.ray_executor:RayExecutor",
})

DNAS_COSTS: Registry[Any] = Registry("DNAS cost", "moo_nas.dnas_costs", {
    "params": "moo_nas.costs:params",
    "model_bytes": "moo_nas.costs:model_bytes",
    "macs": "moo_nas.costs:macs",
    "bitops": "moo_nas.costs:bitops",
    "peak_act_bytes": "moo_nas.costs:peak_activation_bytes",
    "mcu_latency_ms": "moo_nas.dnas.loss:mcu_latency_ms",
    "mcu_energy_mj": "moo_nas.dnas.loss:mcu_energy_mj",
    "flash_bytes": "moo_nas.dnas.loss:flash_bytes",
    "ram_bytes": "moo_nas.dnas.loss:ram_bytes",
})
