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

import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from strategies import get_strategy
from strategies.base import Problem

from .engine import Budget, run_search
from .errors import UserError
from .evaluator import Evaluator, EvaluatorSpec, needed_providers
from .executors import make_executor
from .objectives import Objective, make_objective
from .store import Store
from .training import Recipe

if TYPE_CHECKING:
    from .comparator import Comparison
    from .store import StoredRun

TOP_KEYS = {"name", "description", "seeds", "store", "report", "jobs", "task", "space", "recipe",
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


def parse_experiment(data: dict[str, Any], where: str = "the experiment") -> Experiment:
    """Validate a TOML document already parsed into a dict."""
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise UserError(f"unknown key(s) {unknown} in {where}; allowed: {', '.join(sorted(TOP_KEYS))}.")
    name = data.get("name", Path(where).stem)
    if not isinstance(name, str) or not name:
        raise UserError(f"name in {where} must be a non-empty string.")
    seeds = data.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise UserError(f"seeds in {where} must be a non-empty list of integers.")
    jobs = data.get("jobs", 1)
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise UserError(f"jobs in {where} must be a positive integer.")
    task, task_opts = _named(data, "task", where, "digits")
    space, space_opts = _named(data, "space", where, "digits-cnn")
    recipe = Recipe.from_mapping(_table(data, "recipe", where))
    budget_t = _table(data, "budget", where)
    bad = sorted(set(budget_t) - {"evaluations", "seconds", "cost_hours"})
    if bad:
        raise UserError(f"unknown budget key(s) {bad} in {where}; use evaluations, seconds or cost_hours.")
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
        cls = get_strategy(s["name"])
        unknown_opts = sorted(set(opts) - set(cls.option_names()))
        if unknown_opts:
            raise UserError(f"strategy {s['name']!r} has no option(s) {unknown_opts}; its options are: "
                            f"{', '.join(cls.option_names()) or 'none'}.")
        strategies.append(StrategyEntry(s["name"], opts))
    extra_metrics = data.get("extra_metrics", [])
    if not isinstance(extra_metrics, list) or not all(isinstance(m, str) for m in extra_metrics):
        raise UserError(f"extra_metrics in {where} must be a list of metric names.")
    providers = _table(data, "providers", where)
    executor = _table(data, "executor", where) or {"name": "local"}
    evaluator = _table(data, "evaluator", where) or {"kind": "train"}
    if evaluator.get("kind", "train") not in ("train", "table"):
        raise UserError(f"[evaluator] kind in {where} must be \"train\" or \"table\".")
    store = data.get("store", f"runs/{name}.sqlite")
    report = data.get("report", f"reports/{name}")
    exp = Experiment(name, seeds, task, task_opts, space, space_opts, recipe, budget, tuple(objectives),
                     strategies, Path(store), Path(report), jobs, tuple(extra_metrics), providers,
                     executor, evaluator, str(data.get("description", "")))
    build(exp)  # fail early on bad names / options / impossible constraints
    return exp


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment TOML file."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"experiment file {path} does not exist.")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path} is not valid TOML ({exc}).") from None
    return parse_experiment(data, str(path))


def build(exp: Experiment) -> tuple[Problem, Any]:
    """The problem and evaluator an experiment describes."""
    if exp.evaluator.get("kind", "train") == "table":
        from .tabular import make_table_evaluator

        opts = {k: v for k, v in exp.evaluator.items() if k != "kind"}
        space, evaluator = make_table_evaluator(exp.space, exp.space_options, exp.objectives, **opts)
        problem = Problem(space, exp.objectives, None, exp.recipe)
    else:
        spec = EvaluatorSpec(exp.space, exp.space_options, exp.task, exp.task_options, exp.recipe,
                             exp.objectives, needed_providers(exp.objectives, exp.extra_metrics, exp.providers),
                             exp.extra_metrics)
        evaluator = Evaluator(spec)
        problem = Problem(evaluator.space, exp.objectives, evaluator.task, exp.recipe)
    check_feasible(problem)
    return problem, evaluator


def check_feasible(problem: Problem, samples: int = 200) -> None:
    """Reject bounds on analytic costs that no genotype can meet (smallest sampled + seed-free check)."""
    from . import costs

    analytic = {"params": costs.params, "model_bytes": costs.model_bytes, "macs": costs.macs,
                "peak_act_bytes": costs.peak_activation_bytes}
    bounded = [o for o in problem.constrained if o.name in analytic]
    if not bounded:
        return
    space = problem.space
    if space.table_only:
        return
    arch = space.arch(space.decode([0] * len(space.variables)))
    for o in bounded:
        v = float(analytic[o.name](arch))
        if o.violation(v) > 0:
            raise UserError(
                f"constraint {o.describe()} is impossible in space {space.name!r}: even the smallest "
                f"network has {o.name} = {v:g}; relax the bound.")


def _run_one(exp: Experiment, strategy: StrategyEntry, seed: int) -> int:
    problem, evaluator = build(exp)
    executor = make_executor(**exp.executor)
    try:
        with Store(exp.store) as store:
            r = run_search(store, problem, evaluator, strategy.name, strategy.options, seed,
                           exp.budget, executor, experiment=exp.name)
    finally:
        executor.close()
    return r.run_id


def run_experiment(exp: Experiment, progress: bool = True, write: bool = True) -> Path:
    """Run (or resume) every strategy x seed of an experiment, then write its report."""
    from tqdm import tqdm

    jobs = [(s, seed) for s in exp.strategies for seed in exp.seeds]
    per_run = exp.budget.evaluations
    total = per_run * len(jobs) if per_run else None
    store = Store(exp.store)
    bar = tqdm(total=total, desc=exp.name, unit="eval", disable=not progress, dynamic_ncols=True,
               file=sys.stderr)

    def refresh() -> None:
        n = store.conn.execute(
            "SELECT COUNT(*) FROM evaluations e JOIN runs r ON e.run_id = r.id WHERE r.experiment=?",
            (exp.name,)).fetchone()[0]
        bar.n = min(n, total) if total else n
        bar.refresh()

    t0 = time.perf_counter()
    try:
        # with Ray the evaluations already run in parallel on the cluster: one driver process
        if exp.jobs <= 1 or len(jobs) == 1 or exp.executor.get("name") == "ray":
            for s, seed in jobs:
                bar.set_postfix_str(f"{s.name} seed {seed}")
                problem, evaluator = build(exp)
                executor = make_executor(**exp.executor)
                try:
                    run_search(store, problem, evaluator, s.name, s.options, seed, exp.budget,
                               executor, experiment=exp.name, progress=lambda k: (bar.update(k)))
                finally:
                    executor.close()
        else:
            with ProcessPoolExecutor(max_workers=exp.jobs, mp_context=get_context("spawn")) as pool:
                pending = {pool.submit(_run_one, exp, s, seed) for s, seed in jobs}
                while pending:
                    done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                    for f in done:
                        f.result()
                    refresh()
        refresh()
    finally:
        bar.close()
    wall = time.perf_counter() - t0
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
    table = build(exp)[1].table

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


def write_experiment_report(exp: Experiment, store: Store, wall_seconds: float | None = None) -> Path:
    """Write the experiment's report folder (see :mod:`moo_nas.report`) from ``store``.  An
    experiment whose table evaluator lists ``devices`` is a cross-device study: its other
    devices' searches are run (or resumed) here and the study report is written instead
    (:func:`moo_nas.tabular.study.run_device_study`)."""
    from .report import write_report

    if exp.evaluator.get("kind") == "table" and exp.evaluator.get("devices"):
        from .tabular.study import run_device_study

        return run_device_study(exp, store, wall_seconds)

    cmp = compare_experiment(exp, store)
    extra = ["", "## Setup", "",
             f"- task `{exp.task}` {exp.task_options or ''}, space `{exp.space}` {exp.space_options or ''}",
             f"- recipe: {exp.recipe.to_json()}",
             f"- budget per run: {exp.budget.to_json()}; seeds {exp.seeds}; jobs {exp.jobs}",
             "- strategies: " + ", ".join(f"{s.name} {s.options or ''}" for s in exp.strategies),
             f"- store: `{exp.store}`"]
    if wall_seconds is not None:
        extra.append(f"- wall time of this invocation: {wall_seconds:.1f} s")
    return write_report(cmp, exp.report, f"Experiment `{exp.name}`", extra)
