"""Evaluations as Ray tasks: scale a search out to a Ray cluster (the ``ray`` executor).

The driver keeps the strategy and the SQLite store (see :func:`moo_nas.engine.run_search`);
only the evaluations travel.  Each one is a Ray task declaring its resources (``num_cpus``,
``num_gpus``), so Ray places as many at once as the cluster has room for, and
:meth:`RayExecutor.map_unordered` yields results in the order they finish (``ray.wait``), each
stored by the engine the moment it arrives.

Faults: a task whose worker process dies (killed, out of memory, node lost) is retried by Ray up
to ``max_retries`` times; after that the evaluation is returned with status ``failed`` and the
reason, and the search goes on.  An exception raised *inside* the evaluation is not a worker
fault: it propagates as it would with the local executor (a
:class:`~moo_nas.errors.UserError` keeps its one-sentence message).

Asynchrony: :meth:`RayExecutor.submit` starts one task, :meth:`RayExecutor.wait_any` returns the
next to finish (``ray.wait``), so the engine keeps ``workers`` evaluations in flight and tells an
asynchronous strategy each result as it arrives.

Code shipping: on a local cluster started here, workers inherit ``PYTHONPATH`` with this
checkout's root, so ``moo_nas`` and ``strategies`` import as in the driver; when connecting to
an existing cluster by address, both packages are uploaded with the job
(``runtime_env`` ``py_modules``) unless ``ship_code=False`` (cluster nodes have them installed).

Ray is an optional dependency (``pip install 'moo-nas[ray]'``); this module imports it at once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import ray
import ray.cloudpickle as cloudpickle
from ray.exceptions import RayError, RayTaskError

from .errors import UserError
from .records import Evaluation
from .executors import Executor
from .space import Genotype

ROOT = Path(__file__).resolve().parents[1]
_PACKAGES = ("moo_nas", "strategies")
OPTIONS = ("address", "num_cpus", "num_gpus", "max_retries", "local_cpus", "ship_code", "runtime_env")

# worker-side memo: callable digest -> callable, so an evaluator's lazily built task and space
# are built once per worker process rather than once per evaluation
_WORKER_FNS: "OrderedDict[str, Callable[[Any], Any]]" = OrderedDict()
_WORKER_FNS_MAX = 4


def _resolve(digest: str, holder: list) -> Callable[[Any], Any]:
    fn = _WORKER_FNS.get(digest)
    if fn is None:
        fn = ray.get(holder[0])
        _WORKER_FNS[digest] = fn
        while len(_WORKER_FNS) > _WORKER_FNS_MAX:
            _WORKER_FNS.popitem(last=False)
    else:
        _WORKER_FNS.move_to_end(digest)
    return fn


@ray.remote
def _run_item(digest: str, holder: list, item: Any) -> Any:
    """One evaluation on a Ray worker (``holder`` wraps the callable's ref so it is not
    fetched when already memoised here)."""
    return _resolve(digest, holder)(item)


def _positive(name: str, value: Any, integer: bool = False, zero_ok: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < 0 or (value == 0 and not zero_ok):
        need = "a non-negative" if zero_ok else "a positive"
        raise UserError(f"ray executor option {name} must be {need} {'integer' if integer else 'number'}, "
                        f"got {value!r}.")


class RayExecutor(Executor):
    """Run evaluations as Ray tasks on an existing cluster (``address``) or a local one.

    Parameters
    ----------
    address
        Address of a running cluster (``"auto"``, ``"HOST:PORT"`` or ``"ray://HOST:PORT"``);
        ``None`` joins the Ray instance already initialised in this process, or starts a local
        one with ``local_cpus`` CPUs.
    num_cpus, num_gpus
        Resources each evaluation declares; the cluster runs as many at once as fit.
    max_retries
        How many times an evaluation whose worker died is run again before it is recorded
        ``failed``.
    local_cpus
        CPUs of a local cluster started here (default ``os.cpu_count()``).
    ship_code
        Upload ``moo_nas`` and ``strategies`` with the job when connecting by address.
    runtime_env
        Extra Ray runtime environment (merged over the default one).
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: float = 1, num_gpus: float = 0,
                 max_retries: int = 2, local_cpus: int | None = None, ship_code: bool = True,
                 runtime_env: dict[str, Any] | None = None, **unknown: Any):
        if unknown:
            raise UserError(f"unknown ray executor option(s) {sorted(unknown)}; allowed: {', '.join(OPTIONS)}.")
        if address is not None and (not isinstance(address, str) or not address):
            raise UserError(f"ray executor option address must be a string like HOST:PORT, got {address!r}.")
        _positive("num_cpus", num_cpus)
        _positive("num_gpus", num_gpus, zero_ok=True)
        _positive("max_retries", max_retries, integer=True, zero_ok=True)
        if local_cpus is not None:
            _positive("local_cpus", local_cpus, integer=True)
        if runtime_env is not None and not isinstance(runtime_env, dict):
            raise UserError("ray executor option runtime_env must be a table.")
        self.address = address
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.max_retries = int(max_retries)
        self._owns = False
        self._refs: dict[str, ray.ObjectRef] = {}
        self._pending: dict[ray.ObjectRef, tuple[int, Callable[[Any], Any], Any]] = {}
        self._next = 0
        self._t0 = time.perf_counter()
        if ray.is_initialized():
            return  # joined the instance this process already runs (e.g. a test cluster)
        env: dict[str, Any] = {}
        if address is None:
            self._start_local(local_cpus, runtime_env or {})
        else:
            if ship_code:
                env["py_modules"] = [str(ROOT / p) for p in _PACKAGES]
            env.update(runtime_env or {})
            try:
                ray.init(address=address, runtime_env=env or None, log_to_driver=False,
                         logging_level=logging.ERROR)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UserError(f"cannot connect to the Ray cluster at {address!r} ({exc}); start it with "
                                "`ray start --head` or check --ray-address.") from None

    def _start_local(self, local_cpus: int | None, runtime_env: dict[str, Any]) -> None:
        # the raylet and its workers inherit this environment: put the checkout on their path
        old = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([old] if old else []))
        try:
            ray.init(num_cpus=local_cpus or os.cpu_count() or 1,
                     num_gpus=None if self.num_gpus else 0, include_dashboard=False,
                     log_to_driver=False, logging_level=logging.ERROR,
                     runtime_env=runtime_env or None)
        finally:
            if old is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = old
        self._owns = True

    @property
    def workers(self) -> int:  # type: ignore[override]
        """Evaluations the cluster runs at once: its CPUs (or GPUs) over what one declares."""
        res = ray.cluster_resources()
        fits = [res.get("CPU", 1.0) / self.num_cpus]
        if self.num_gpus:
            fits.append(res.get("GPU", 0.0) / self.num_gpus)
        return max(1, int(min(fits)))

    def describe(self) -> str:
        where = self.address or ("local cluster" if self._owns else "current Ray instance")
        return f"ray ({where}; {self.num_cpus} CPU, {self.num_gpus} GPU per evaluation)"

    def _put(self, fn: Callable[[Any], Any]) -> tuple[str, ray.ObjectRef]:
        """Ship ``fn`` once per distinct content; the digest lets workers memoise it."""
        blob = cloudpickle.dumps(fn)
        digest = hashlib.sha1(blob).hexdigest()
        ref = self._refs.get(digest)
        if ref is None:
            ref = ray.put(fn)
            self._refs = {digest: ref}  # keep only the latest callable alive
        return digest, ref

    def submit(self, fn: Callable[[Any], Any], item: Any, at: float | None = None) -> int:
        """Start ``fn(item)`` as a Ray task; return its ticket."""
        digest, ref = self._put(fn)
        task = _run_item.options(num_cpus=self.num_cpus, num_gpus=self.num_gpus,
                                 max_retries=self.max_retries, retry_exceptions=False)
        ticket, self._next = self._next, self._next + 1
        self._pending[task.remote(digest, [ref], item)] = (ticket, fn, item)
        return ticket

    def wait_any(self) -> tuple[int, Any]:
        """The next task to finish (``ray.wait``): ``(ticket, result)``; a task whose worker
        died after its retries is a ``failed`` evaluation."""
        ready, _ = ray.wait(list(self._pending), num_returns=1)
        ticket, fn, item = self._pending.pop(ready[0])
        return ticket, self._result(ready[0], fn, item)

    def in_flight(self) -> int:
        return len(self._pending)

    def cancel(self) -> None:
        """Abandoned tasks (driver interrupted) do not keep running."""
        for r in self._pending:
            ray.cancel(r, force=True)
        self._pending.clear()

    def _result(self, ref: ray.ObjectRef, fn: Callable[[Any], Any], item: Any) -> Any:
        try:
            return ray.get(ref)
        except RayTaskError as exc:  # the evaluation itself raised: same as running it locally
            cause = exc.cause
            if isinstance(cause, UserError):
                raise UserError(str(cause)) from None
            raise (cause if isinstance(cause, BaseException) else exc)
        except RayError as exc:  # worker/node died and retries are spent
            return failed_evaluation(fn, item, exc, self.max_retries)

    def close(self) -> None:
        """Drop shipped objects; shut Ray down only if this executor started it."""
        self.cancel()
        self._refs.clear()
        if self._owns and ray.is_initialized():
            ray.shutdown()
        self._owns = False


def failed_evaluation(fn: Callable[[Any], Any], item: Any, exc: BaseException, retries: int) -> Evaluation:
    """The record of an evaluation lost with its worker (``item`` is the engine's
    ``(genotype, known, warm_start)``)."""
    genotype = item[0] if isinstance(item, tuple) and item and isinstance(item[0], Genotype) else None
    if genotype is None:
        raise RuntimeError(f"ray task failed on a non-evaluation item: {exc}") from exc
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    msg = f"worker lost after {retries + 1} attempt(s): {type(exc).__name__}" + (f": {first}" if first else "")
    arch_key = ""
    evaluator = getattr(fn, "evaluator", None)
    if evaluator is not None and hasattr(evaluator, "arch_key"):
        try:
            arch_key = evaluator.arch_key(genotype)
        except Exception:  # the key is a convenience; never fail the record for it
            arch_key = ""
    return Evaluation.of(genotype, "failed", device="ray worker (lost)", error=msg[:500], arch_key=arch_key)
