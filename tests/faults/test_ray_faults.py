"""Fault tests on a real local Ray cluster (2 CPUs, started once for this module).

* a Ray worker killed mid-evaluation: the task is retried and the run loses nothing;
* killed more times than ``max_retries`` allows: the evaluation is recorded ``failed`` and the
  run still finishes;
* ``kill -9`` of the driver (``moo-nas search --executor ray``), then the same command: it
  resumes with every completed evaluation kept as it was;
* the same seed gives the same result table with the local and the Ray executor.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
import ray.cloudpickle  # noqa: E402

from moo_nas.engine import Budget, run_search  # noqa: E402
from moo_nas.evaluator import TrainingEvaluator, EvaluatorSpec, needed_providers  # noqa: E402
from moo_nas.executors import LocalExecutor  # noqa: E402
from moo_nas.objectives import make_objective  # noqa: E402
from moo_nas.ray_executor import RayExecutor  # noqa: E402
from moo_nas.store import Store  # noqa: E402
from moo_nas.training import Recipe  # noqa: E402
from moo_nas.strategy import Problem  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OBJS = (make_objective("val_accuracy"), make_objective("model_bytes"))
RECIPE = Recipe(epochs=1, batch_size=64)

# workers cannot import this test module: ship its classes by value
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


class PidThenSleepEvaluator(TrainingEvaluator):
    """A training evaluator whose first call (across all processes) writes its worker's PID to
    ``pid_file`` and sleeps, so the test can kill that worker mid-evaluation."""

    def __init__(self, spec: EvaluatorSpec, pid_file: str = ""):
        super().__init__(spec)
        self.pid_file = pid_file

    def __getstate__(self):
        return {"spec": self.spec, "pid_file": self.pid_file}

    def __setstate__(self, state):
        self.__init__(state["spec"], state["pid_file"])

    def evaluate(self, genotype, seed, known=None, warm_start=None):
        try:
            fd = os.open(self.pid_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return super().evaluate(genotype, seed, known=known, warm_start=warm_start)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        time.sleep(300)  # killed long before this ends
        return super().evaluate(genotype, seed, known=known, warm_start=warm_start)


@pytest.fixture(scope="module")
def cluster():
    if ray.is_initialized():
        ray.shutdown()
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([old] if old else []))
    try:
        ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _spec():
    return EvaluatorSpec("digits-cnn", {}, "digits", {}, RECIPE, OBJS, needed_providers(OBJS, []))


def _problem(e):
    return Problem(e.space, OBJS, e.task, RECIPE)


def _table(evals):
    return [(x.seq, x.genotype_key, x.status, x.values, x.error) for x in evals]


def _search_killing_one_worker(tmp_path, max_retries):
    """Run a 4-evaluation search on Ray in a thread; kill the worker of its first evaluation."""
    pid_file = tmp_path / "worker.pid"
    e = PidThenSleepEvaluator(_spec(), str(pid_file))
    pb = _problem(e)
    out = {}

    def drive():
        try:
            with Store(tmp_path / "s.sqlite") as s:
                ex = RayExecutor(max_retries=max_retries)
                out["result"] = run_search(s, pb, e, "random", {"batch": 2}, 1, Budget(evaluations=4),
                                           executor=ex)
                ex.close()
        except BaseException as exc:  # reported by the test below
            out["error"] = exc

    t = threading.Thread(target=drive, daemon=True)
    t.start()
    deadline = time.time() + 120
    while not pid_file.exists() or not pid_file.read_text():
        assert time.time() < deadline, "the first evaluation never started on a worker"
        time.sleep(0.1)
    pid = int(pid_file.read_text())
    assert pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    t.join(240)
    assert not t.is_alive(), "the search hung after its worker was killed"
    assert "error" not in out, out.get("error")
    with Store(tmp_path / "s.sqlite") as s:
        stored = s.evaluations(out["result"].run_id)
    return out["result"], stored


def test_killed_worker_is_retried_and_nothing_is_lost(cluster, tmp_path):
    res, stored = _search_killing_one_worker(tmp_path, max_retries=2)
    assert len(stored) == 4 and [x.seq for x in stored] == [0, 1, 2, 3]
    assert all(x.status == "ok" and x.value("val_accuracy") is not None for x in stored)
    assert _table(stored) == _table(res.evaluations)


def test_worker_killed_beyond_retries_is_recorded_failed(cluster, tmp_path):
    res, stored = _search_killing_one_worker(tmp_path, max_retries=0)
    assert len(stored) == 4
    failed = [x for x in stored if x.status == "failed"]
    assert len(failed) == 1 and "worker lost" in failed[0].error
    assert failed[0].seq in (0, 1)  # the killed one was in the first batch
    assert all(x.status == "ok" for x in stored if x is not failed[0])


def _count(store_path):
    try:
        with Store(store_path) as s:
            runs = s.runs()
            return len(s.evaluations(runs[0].id)) if runs else 0
    except Exception:
        return 0


def test_driver_kill_9_then_same_command_resumes(cluster, tmp_path):
    store = tmp_path / "k.sqlite"
    cmd = [sys.executable, "-m", "moo_nas", "search", "--strategy", "random", "--option", "batch=2",
           "--evaluations", "6", "--recipe", "epochs=1", "--recipe", "batch_size=64",
           "--objective", "val_accuracy", "--objective", "model_bytes", "--seed", "4",
           "--store", str(store), "--report", str(tmp_path / "rep"), "--quiet",
           "--executor", "ray", "--ray-address", cluster]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    n, deadline = 0, time.time() + 150
    while time.time() < deadline and n < 2 and p.poll() is None:
        time.sleep(0.2)
        n = _count(store) if store.exists() else 0
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert 2 <= n < 6, f"the driver should have been killed mid-run ({n} stored): {p.stderr.read()[-500:]!r}"
    with Store(store) as s:
        before = s.evaluations(s.runs()[0].id)
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    with Store(store) as s:
        after = s.evaluations(s.runs()[0].id)
        assert s.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [a.seq for a in after] == list(range(6))
    by_seq = {a.seq: a for a in after}
    for b in before:  # completed work kept exactly, not redone (asynchronous: any seqs, by number)
        a = by_seq[b.seq]
        assert (b.genotype_key, b.values, b.finished) == (a.genotype_key, a.values, a.finished)
    assert not any(a.cached for a in after)
    assert all(a.status == "ok" for a in after)


@pytest.mark.parametrize("strategy,options", [("random", {"batch": 2}), ("nsga2", {"pop_size": 4})])
def test_same_seed_same_table_local_and_ray(cluster, tmp_path, strategy, options):
    e = TrainingEvaluator(_spec())
    pb = _problem(e)
    with Store(tmp_path / "local.sqlite") as s:
        local = run_search(s, pb, e, strategy, options, 11, Budget(evaluations=6), executor=LocalExecutor())
        local_rows = s.evaluations(local.run_id)
    ex = RayExecutor()
    with Store(tmp_path / "ray.sqlite") as s:
        remote = run_search(s, pb, e, strategy, options, 11, Budget(evaluations=6), executor=ex)
        ray_rows = s.evaluations(remote.run_id)
    ex.close()
    assert ray.is_initialized()  # close() leaves a cluster it did not start running
    assert len(local_rows) == len(ray_rows) == 6
    assert _table(local_rows) == _table(ray_rows)
    assert len({x.genotype_key for x in ray_rows}) > 1
