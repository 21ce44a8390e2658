"""Experiment files (TOML): what to compare, on what, with which budget — and running them.

Example (``experiments/quickstart.toml`` is the main job)::

    name = "quickstart"
    seeds = [0, 1, 2]
    store = "runs/quickstart.sqlite"     # relative to the working directory
    report = "reports/quickstart"
    jobs = 2                             # runs executed in parallel processes

    [task]
    name = "digits"
    [space]
    name = "digits-cnn"
    [recipe]
    epochs = 6
    [budget]
    evaluations = 30
    [[objectives]]
    name = "val_accuracy"
    [[objectives]]
    name = "model_bytes"
    bound = "64KiB"                      # optional constraint
    [[strategies]]
    name = "random"
    [[strategies]]
    name = "nsga2"
    pop_size = 10

Optional sections: ``extra_metrics`` (list: metrics recorded but not optimised),
``[providers.NAME]`` (options of a metric provider, e.g. ``[providers.host-torch] repeats = 50``),
``[executor]`` (``name = "local"`` or ``"ray"`` plus options), ``[evaluator]`` (``kind = "train"``,
the default, or ``kind = "table"`` with the table's options).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .engine import Budget, SearchRun, run_search
from .errors import UserError, unknown_name
from .evaluator import Evaluator, EvaluatorSpec, TrainingEvaluator, needed_providers
from .executors import Executor, make_executor
from .objectives import Objective, make_objective
from .registry import STRATEGIES
from .store import Store
from .strategy import Problem
from .training import Recipe

if TYPE_CHECKING:
    from .comparator import Comparison
    from .store import StoredRun

#: seconds between progress-bar refreshes of parallel runs (each counts the stored evaluations)
REFRESH_S = 2.0

TOP_KEYS = {"name", "description", "seeds", "store", "report", "jobs", "workers", "targets", "task", "space", "recipe",
            "budget", "objectives", "extra_metrics", "providers", "strategies", "executor",
            "evaluator"}


@dataclass
class StrategyEntry:
    name: str
    options: dict[str, Any]


@dataclass
class Experiment:
    """A parsed, validated experiment file."""

    name: str
    seeds: list[int]
    task: str
    task_options: dict[str, Any]
    space: str
    space_options: dict[str, Any]
    recipe: Recipe
    budget: Budget
    objectives: tuple[Objective, ...]
    strategies: list[StrategyEntry]
    store: Path
    report: Path
    jobs: int = 1
    extra_metrics: tuple[str, ...] = ()
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    executor: dict[str, Any] = field(default_factory=lambda: {"name": "local"})
    evaluator: dict[str, Any] = field(default_factory=lambda: {"kind": "train"})
    description: str = ""
    workers: int = 1
    #: the TOML file it was read from (for the command written at the top of its report)
    source: str = ""
    #: fractions of the reference hypervolume whose cost to reach the report tabulates
    targets: tuple[float, ...] = (0.95, 0.99)
    _built: "tuple[Problem, Evaluator] | None" = field(default=None, repr=False, compare=False)

    def built(self) -> "tuple[Problem, Evaluator]":
        """The problem and evaluator this experiment describes, built once per process."""
        if self._built is None:
            self._built = build(self)
        return self._built

    def renamed(self, name: str, move_report: bool = True) -> "Experiment":
        """The same experiment filed under another name (its report folder renamed alike)."""
        from dataclasses import replace

        report = self.report.with_name(name) if move_report and self.report.name == self.name else self.report
        return replace(self, name=name, report=report, _built=self._built)

    def __getstate__(self) -> dict[str, Any]:  # worker processes build their own
        return {**self.__dict__, "_built": None}


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    v = data.get(key, {})
    if not isinstance(v, dict):
        raise UserError(f"[{key}] in {where} must be a table.")
    return dict(v)


def _named(data: dict[str, Any], key: str, where: str, default: str | None = None) -> tuple[str, dict[str, Any]]:
    t = _table(data, key, where)
    name = t.pop("name", default)
    if not isinstance(name, str):
        raise UserError(f"[{key}] in {where} needs name = \"...\".")
    return name, t


def _checked_providers(providers: dict[str, Any], where: str) -> dict[str, Any]:
    """``[providers.NAME]`` tables: known provider names, each a table (part of parse_experiment)."""
    from .registry import PROVIDERS

    for pname, popts in providers.items():
        PROVIDERS.get(pname)  # an unknown name is refused with suggestions
        if not isinstance(popts, dict):
            raise UserError(f"[providers.{pname}] in {where} must be a table of options.")
    return providers


def _checked_executor(executor: dict[str, Any]) -> dict[str, Any]:
    """``[executor]``: a known name and known, typed options (part of parse_experiment; the
    ranges of Ray's options are checked when the executor is made)."""
    from .options import convert_options

    from .registry import EXECUTORS

    name = executor.get("name", "local")
    if not isinstance(name, str) or name not in EXECUTORS:
        raise unknown_name("executor", str(name), EXECUTORS.names())
    options = {k: v for k, v in executor.items() if k != "name"}
    if name == "local" and options:
        raise UserError(f"the local executor takes no options, got {sorted(options)}; remove them "
                        "or set name = \"ray\".")
    if name == "ray" and options:
        try:
            from .ray_executor import OPTIONS, RayExecutor
        except ImportError:
            return executor  # make_executor explains how to install Ray
        bad = sorted(set(options) - set(OPTIONS))
        if bad:
            raise UserError(f"unknown ray executor option(s) {bad}; allowed: {', '.join(OPTIONS)}.")
        return {"name": "ray", **convert_options(RayExecutor.__init__, options, "ray executor")}
    return executor


def parse_experiment(data: dict[str, Any], where: str = "the experiment") -> Experiment:
    """Validate a TOML document already parsed into a dict.

    Everything that can be checked before training is checked here, before any store or
    report is created: names, types and ranges, output paths, impossible constraints, and each
    strategy's options (every strategy is constructed once on the built problem).
    """
    from .objectives import metric
    from .options import convert_options
    from .paths import check_name, check_output_dir, check_store_path

    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise UserError(f"unknown key(s) {unknown} in {where}; allowed: {', '.join(sorted(TOP_KEYS))}.")
    name = check_name(data.get("name", Path(where).stem), f"the experiment name in {where}")
    seeds = data.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise UserError(f"seeds in {where} must be a non-empty list of integers.")
    jobs = data.get("jobs", 1)
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise UserError(f"jobs in {where} must be a positive integer, got {jobs!r}.")
    workers = data.get("workers", 1)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise UserError(f"workers in {where} must be a positive integer, got {workers!r}.")
    targets = data.get("targets", [0.95, 0.99])
    if (not isinstance(targets, list) or not targets
            or not all(isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t <= 1 for t in targets)):
        raise UserError(f"targets in {where} must be a list of fractions of the reference "
                        f"hypervolume in (0, 1], e.g. [0.9, 0.95], got {targets!r}.")
    task, task_opts = _named(data, "task", where, "digits")
    space_table = data.get("space")
    if isinstance(space_table, dict) and "seed_model" in space_table and "name" not in space_table:
        data = {**data, "space": {"name": "traced", **space_table}}  # a user's own network
    space, space_opts = _named(data, "space", where, "digits-cnn")
    recipe = Recipe.from_mapping(_table(data, "recipe", where))
    budget_t = _table(data, "budget", where)
    bad = sorted(set(budget_t) - {"evaluations", "seconds", "cost_hours"})
    if bad:
        raise UserError(f"unknown budget key(s) {bad} in {where}; use evaluations, seconds or cost_hours.")
    n_eval = budget_t.get("evaluations")
    if isinstance(n_eval, float) and not isinstance(n_eval, bool):
        raise UserError(f"budget evaluations in {where} must be a whole number, got {n_eval!r}.")
    budget = Budget(**budget_t)
    objs_raw = data.get("objectives")
    if not isinstance(objs_raw, list) or not objs_raw:
        raise UserError(f"{where} needs at least one [[objectives]] entry with a name.")
    objectives = []
    for o in objs_raw:
        if not isinstance(o, dict) or "name" not in o:
            raise UserError(f"every [[objectives]] entry in {where} needs a name.")
        extra = sorted(set(o) - {"name", "bound"})
        if extra:
            raise UserError(f"unknown key(s) {extra} in an [[objectives]] entry of {where}; allowed: name, bound.")
        objectives.append(make_objective(o["name"], o.get("bound")))
    names = [o.name for o in objectives]
    if len(set(names)) != len(names):
        raise UserError(f"an objective is listed twice in {where}.")
    strats_raw = data.get("strategies")
    if not isinstance(strats_raw, list) or not strats_raw:
        raise UserError(f"{where} needs at least one [[strategies]] entry with a name.")
    strategies = []
    for s in strats_raw:
        if not isinstance(s, dict) or "name" not in s:
            raise UserError(f"every [[strategies]] entry in {where} needs a name.")
        opts = {k: v for k, v in s.items() if k != "name"}
        cls = STRATEGIES.get(s["name"])
        unknown_opts = sorted(set(opts) - set(cls.option_names()))
        if unknown_opts:
            raise UserError(f"strategy {s['name']!r} has no option(s) {unknown_opts}; its options are: "
                            f"{', '.join(cls.option_names()) or 'none'}.")
        opts = convert_options(cls.__init__, opts, f"strategy {s['name']!r}", ("self", "problem", "seed"))
        strategies.append(StrategyEntry(s["name"], opts))
    extra_metrics = data.get("extra_metrics", [])
    if not isinstance(extra_metrics, list) or not all(isinstance(m, str) for m in extra_metrics):
        raise UserError(f"extra_metrics in {where} must be a list of metric names.")
    for m in extra_metrics:
        metric(m)
    providers = _checked_providers(_table(data, "providers", where), where)
    executor = _checked_executor(_table(data, "executor", where) or {"name": "local"})
    evaluator = _table(data, "evaluator", where) or {"kind": "train"}
    if evaluator.get("kind", "train") not in ("train", "table"):
        raise UserError(f"[evaluator] kind in {where} must be \"train\" or \"table\".")
    store = data.get("store", f"runs/{name}.sqlite")
    report = data.get("report", f"runs/reports/{name}")
    for key, value in (("store", store), ("report", report)):
        if not isinstance(value, (str, Path)) or not str(value):
            raise UserError(f"{key} in {where} must be a path string, got {value!r}.")
    check_store_path(store, write=True)
    check_output_dir(report, "report folder")
    exp = Experiment(name, seeds, task, task_opts, space, space_opts, recipe, budget, tuple(objectives),
                     strategies, Path(store), Path(report), jobs, tuple(extra_metrics), providers,
                     executor, evaluator, str(data.get("description", "")), workers=workers,
                     targets=tuple(float(t) for t in targets))
    problem, _ = exp.built()  # fail early on bad names / options / impossible constraints
    for entry in strategies:  # constructor-time option errors surface before any run trains
        STRATEGIES.get(entry.name).create(problem, seeds[0], entry.options)
    return exp


def load_experiment(path: str | Path, overrides: dict[str, Any] | None = None) -> Experiment:
    """Read and validate an experiment TOML file; ``overrides`` replace top-level keys (the
    command line's --store, --report, --jobs, --executor) before validation."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder; give an experiment TOML file, e.g. experiments/quickstart.toml.")
    if not path.exists():
        raise UserError(f"experiment file {path} does not exist.")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise UserError(f"experiment file {path} cannot be read ({exc.strerror}).") from None
    except UnicodeDecodeError:
        text = "\x00"
    if "\x00" in text:
        raise UserError(f"{path} is not a text file; give an experiment TOML file, e.g. "
                        "experiments/quickstart.toml.")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path} is not valid TOML ({exc}).") from None
    data.update(overrides or {})
    exp = parse_experiment(data, str(path))
    exp.source = str(path)
    return exp


def build(exp: Experiment) -> tuple[Problem, Evaluator]:
    """The problem and evaluator an experiment describes (use :meth:`Experiment.built`)."""
    if exp.evaluator.get("kind", "train") == "table":
        from .tabular import make_table_evaluator

        opts = {k: v for k, v in exp.evaluator.items() if k != "kind"}
        space, table_evaluator = make_table_evaluator(exp.space, exp.space_options, exp.objectives, **opts)
        evaluator: Evaluator = table_evaluator
        problem = Problem(space, exp.objectives, None, exp.recipe)
    else:
        spec = EvaluatorSpec(exp.space, exp.space_options, exp.task, exp.task_options, exp.recipe,
                             exp.objectives, needed_providers(exp.objectives, exp.extra_metrics, exp.providers),
                             exp.extra_metrics)
        training = TrainingEvaluator(spec)
        evaluator = training
        problem = Problem(training.space, exp.objectives, training.task, exp.recipe)
    check_feasible(problem)
    return problem, evaluator


def check_feasible(problem: Problem) -> None:
    """Reject bounds on analytic costs that no genotype can meet: the smallest genotype of
    the space (first option everywhere) already violates them."""
    from .costs import ANALYTIC_COSTS

    bounded = [o for o in problem.constrained if o.name in ANALYTIC_COSTS]
    if not bounded:
        return
    space = problem.space
    if space.table_only:
        return
    arch = space.arch(space.decode([0] * len(space.variables)))
    for o in bounded:
        v = float(ANALYTIC_COSTS[o.name](arch))
        if o.violation(v) > 0:
            raise UserError(
                f"constraint {o.describe()} is impossible in space {space.name!r}: even the smallest "
                f"network has {o.name} = {v:g}; relax the bound.")


def check_store(exp: Experiment) -> None:
    """Refuse, before any training, to add runs to a store whose runs of the same experiment
    name were made with another space, task, recipe, objectives or strategy options (the report
    would pool them).  A store that does not exist yet is not created."""
    if not exp.store.exists():
        return
    problem, evaluator = exp.built()
    conf = evaluator.config()
    want = {"space": problem.space.config(), "task": conf.get("task", {}),
            "recipe": conf.get("recipe", {}), "objectives": [o.__dict__ for o in exp.objectives]}
    options = {(s.name, seed): s.options for s in exp.strategies for seed in exp.seeds}

    def same(a: Any, b: Any) -> bool:
        return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)

    with Store(exp.store) as store:
        for r in store.runs(exp.name):
            have = {"space": r.space, "task": r.task, "recipe": r.recipe, "objectives": r.objectives}
            for key in want:
                if not same(have[key], want[key]):
                    raise UserError(
                        f"store {exp.store} already holds experiment {exp.name!r} with another {key} "
                        f"({json.dumps(have[key], sort_keys=True)} instead of "
                        f"{json.dumps(want[key], sort_keys=True, default=str)}); give this one another "
                        "name (--name or name = ...) or another store.")
            wanted = options.get((r.strategy, r.seed))
            if wanted is not None and not same(wanted, r.options):
                raise UserError(
                    f"store {exp.store} already holds run {r.strategy} seed {r.seed} of experiment "
                    f"{exp.name!r} with options {r.options} instead of {wanted}; give this one another "
                    "name or another store.")


def planned_evaluations(exp: Experiment) -> int | None:
    """How many distinct evaluations the experiment's runs will make in all (None: unknown)."""
    if exp.budget.evaluations is None:
        return None
    problem, _ = exp.built()
    total = 0
    for s in exp.strategies:
        for seed in exp.seeds:
            planned = STRATEGIES.get(s.name).create(problem, seed, s.options).planned_evaluations()
            total += exp.budget.evaluations if planned is None else min(planned, exp.budget.evaluations)
    return total


def run_executor(exp: Experiment) -> Executor:
    """The executor of one run: ``[executor]`` with ``workers`` evaluations at once; a table
    experiment runs on ``workers`` simulated workers (each lookup lasts its recorded training
    time), so its results arrive, and its clock runs, in simulated wall-clock time."""
    options = dict(exp.executor)
    name = options.pop("name", "local")
    if name == "local" and exp.evaluator.get("kind") == "table":
        name = "simulated"
    if name in ("local", "simulated"):
        options["workers"] = exp.workers
    return make_executor(name, **options)


def _run_one(exp: Experiment, strategy: StrategyEntry, seed: int,
             progress: Callable[[int], None] | None = None) -> int:
    problem, evaluator = exp.built()
    executor = run_executor(exp)
    try:
        with Store(exp.store) as store:
            r = run_search(store, problem, evaluator, strategy.name, strategy.options, seed,
                           exp.budget, executor, experiment=exp.name, progress=progress)
    finally:
        executor.close()
    return r.run_id


def run_finished(exp: Experiment, store: Store, strategy: StrategyEntry, seed: int) -> bool:
    """True when ``store`` already holds this run of ``exp`` finished with its budget: it
    needs no worker process (one would import torch just to read it)."""
    problem, evaluator = exp.built()
    executor = run_executor(exp)
    try:
        return SearchRun(store, problem, evaluator, strategy.name, strategy.options, seed, exp.budget,
                         executor, experiment=exp.name).complete_in_store()
    finally:
        executor.close()


def _interrupt_once(signum: int, frame: Any) -> None:
    """SIGINT handler of a worker process: the first interrupts the run, later ones are ignored
    (Ctrl-C in a terminal reaches the whole process group and the parent then interrupts each
    worker again; a second KeyboardInterrupt would cut short the release of the run)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _child(exp: Experiment, strategy: StrategyEntry, seed: int, conn: Any) -> None:
    """Body of a worker process of :func:`_run_parallel`: one run, its outcome sent back."""
    signal.signal(signal.SIGINT, _interrupt_once)
    try:
        conn.send(("ok", _run_one(exp, strategy, seed)))
    except UserError as exc:
        conn.send(("user", str(exc)))
    except KeyboardInterrupt:
        conn.send(("interrupted", ""))
    except BaseException:  # noqa: B036 - reported to the parent, which raises it
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def _run_parallel(exp: Experiment, jobs: list[tuple[StrategyEntry, int]], refresh: Callable[[], None]) -> None:
    """Run ``jobs`` in at most ``exp.jobs`` worker processes.  Ctrl-C: no queued run starts,
    running ones are interrupted (their finished evaluations stay stored) within seconds."""
    ctx = get_context("spawn")
    queue = list(jobs)
    running: dict[Any, tuple[Any, Any]] = {}
    try:
        while queue or running:
            while queue and len(running) < exp.jobs:
                s, seed = queue.pop(0)
                parent, child = ctx.Pipe(duplex=False)
                p = ctx.Process(target=_child, args=(exp, s, seed, child), daemon=True)
                p.start()
                child.close()
                running[p] = (parent, (s.name, seed))
            time.sleep(0.2)
            for p in [p for p in running if not p.is_alive()]:
                parent, (name, seed) = running.pop(p)
                outcome = parent.recv() if parent.poll() else ("error", f"exit code {p.exitcode}")
                if outcome[0] == "user":
                    raise UserError(outcome[1])
                if outcome[0] == "interrupted":
                    raise KeyboardInterrupt
                if outcome[0] == "error":
                    raise RuntimeError(f"run {name} seed {seed} failed:\n{outcome[1]}")
            refresh()
    finally:
        _stop(list(running))


def _stop(processes: list[Any], grace: float = 5.0) -> None:
    """Interrupt worker processes (SIGINT: they release their runs) and wait; kill stragglers."""
    for p in processes:
        if p.is_alive():
            try:
                os.kill(p.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()


def run_experiment(exp: Experiment, progress: bool = True, write: bool = True) -> Path:
    """Run (or resume) every strategy x seed of an experiment, then write its report.

    Everything that can be refused is refused before the store is touched or anything is
    trained: objectives this machine cannot measure, a store whose runs of this experiment
    were made with another configuration."""
    from tqdm import tqdm

    problem, evaluator = exp.built()
    evaluator.check()
    check_store(exp)
    jobs = [(s, seed) for s in exp.strategies for seed in exp.seeds]
    total = planned_evaluations(exp)
    store = Store(exp.store)
    bar = tqdm(total=total, initial=store.count_evaluations(exp.name), desc=exp.name, unit="eval",
               disable=not progress, dynamic_ncols=True, file=sys.stderr)

    shown = [time.perf_counter()]

    def refresh(force: bool = False) -> None:
        """Progress bar from the store's count; at most every REFRESH_S seconds (the count
        reads every stored evaluation of the experiment), never when the bar is off."""
        if not progress or (not force and time.perf_counter() - shown[0] < REFRESH_S):
            return
        shown[0] = time.perf_counter()
        n = store.count_evaluations(exp.name)
        bar.n = min(n, total) if total else n
        bar.refresh()

    t0 = time.perf_counter()
    try:
        # with Ray the evaluations already run in parallel on the cluster: one driver process
        if exp.jobs <= 1 or len(jobs) == 1 or exp.executor.get("name") == "ray":
            for s, seed in jobs:
                bar.set_postfix_str(f"{s.name} seed {seed}")
                _run_one(exp, s, seed, progress=bar.update)
        else:
            _run_parallel(exp, [(s, seed) for s, seed in jobs if not run_finished(exp, store, s, seed)],
                          refresh)
        refresh(force=True)
    finally:
        bar.close()
    wall = time.perf_counter() - t0
    if is_device_study(exp):  # the other devices' searches, then the study report
        from .tabular.study import run_device_study

        return run_device_study(exp, store, wall, write, progress)
    if write:
        return write_experiment_report(exp, store, wall)
    return exp.report
def experiment_runs(exp: Experiment, store: Store) -> list["StoredRun"]:
    """The stored runs of ``exp``'s strategies and seeds."""
    wanted = {(s.name, seed) for s in exp.strategies for seed in exp.seeds}
    return [r for r in store.runs(exp.name) if (r.strategy, r.seed) in wanted]


def compare_experiment(exp: Experiment, store: Store) -> "Comparison":
    """:func:`moo_nas.comparator.compare` of an experiment's runs.  For ``kind = "table"`` the
    reference front comes from the very values the runs see: with ``lookup = "mean"`` (default)
    the front of the seed-averaged table, with ``lookup = "per-seed"`` one front per run, that of
    the rows a run with its seed looks up."""
    from .comparator import compare, nondominated

    runs = experiment_runs(exp, store)
    if exp.evaluator.get("kind") != "table":
        return compare(store, runs)
    table = exp.built()[1].table  # type: ignore[attr-defined]

    def front(t: Any) -> Any:
        points = t.points(exp.objectives)
        return points[nondominated(points)]

    if exp.evaluator.get("lookup", "mean") == "per-seed":
        fronts = {seed: front(table.seed_view(seed)) for seed in sorted({r.seed for r in runs})}
        label = (f"per-seed true fronts of table {table.info.name}: for a run with seed s, the "
                 f"front of the row a run with seed s looks up for each of its {len(table)} "
                 "architectures (recorded training seed s where there is one)")
        return compare(store, runs, reference_label=label,
                       run_references={r.id: fronts[r.seed] for r in runs})
    label = (f"the true front of table {table.info.name}, all {len(table)} architectures, each "
             "with the values a run looks up (metrics averaged over the recorded training seeds)")
    return compare(store, runs, reference=front(table), reference_label=label)


def is_device_study(exp: Experiment) -> bool:
    """True for a cross-device study: a table experiment whose evaluator lists ``devices``."""
    return exp.evaluator.get("kind") == "table" and bool(exp.evaluator.get("devices"))


def write_experiment_report(exp: Experiment, store: Store, wall_seconds: float | None = None) -> Path:
    """Write the experiment's report folder (see :mod:`moo_nas.report`) from ``store``."""
    from .report import write_report

    cmp = compare_experiment(exp, store)
    extra = ["", "## Setup", "",
             f"- task `{exp.task}` {exp.task_options or ''}, space `{exp.space}` {exp.space_options or ''}",
             f"- recipe: {exp.recipe.to_json()}",
             f"- budget per run: {exp.budget.to_json()}; seeds {exp.seeds}; jobs {exp.jobs}; "
             f"workers per run {exp.workers}",
             "- strategies: " + ", ".join(f"{s.name} {s.options or ''}" for s in exp.strategies),
             f"- store: `{exp.store}`"]
    if wall_seconds is not None:
        extra.append(f"- wall time of this invocation: {wall_seconds:.1f} s")
    extra += latency_spread_lines(exp, cmp)
    from .report import made_with

    command = (f"moo-nas compare {exp.source}" if exp.source else f"moo-nas search --name {exp.name} …")
    if exp.source and exp.workers > 1:
        command += f" --workers {exp.workers}"
    if exp.source and str(exp.report) != f"runs/reports/{exp.name}":
        command += f" --report {exp.report}"
    header = [f"Command: `{command}` ({made_with()}; runs already in the store `{exp.store}` are "
              "read, not redone: from a fresh clone the command computes them all)."]
    return write_report(cmp, exp.report, f"Experiment `{exp.name}`", extra, exp.targets, header)


def latency_spread_lines(exp: Experiment, cmp: "Comparison") -> list[str]:
    """When host latency is an objective: its protocol's run-to-run spread, measured now on
    the seed and up to four architectures of the fronts (each measured in 5 sessions)."""
    if "latency_ms" not in [o.name for o in exp.objectives] or exp.evaluator.get("kind") == "table":
        return []
    import torch

    from .hardware.host import HostTorchLatency, measure_spread

    problem, _ = exp.built()
    space = problem.space
    genotypes = [space.seed_genotype()]
    for r in cmp.runs:
        for e in r.front_evals:
            g = space.make(e.genotype)
            if g.key not in {x.key for x in genotypes}:
                genotypes.append(g)
    genotypes = genotypes[:: max(1, len(genotypes) // 5)][:5]
    provider = HostTorchLatency(**exp.providers.get("host-torch", {}))
    torch.manual_seed(0)
    spread = measure_spread([space.build(g) for g in genotypes], space.input_shape, provider.protocol)
    return ["", "## Latency measurement spread", "",
            f"`latency_ms` is measured on {provider.device} with host-torch ({provider.protocol.describe()}). "
            f"Its run-to-run spread, measured when this report was written: {spread.describe()}. "
            "Values of one architecture are shared by every run of the store (measured once), so "
            "within this report the spread only matters between fresh stores."]
