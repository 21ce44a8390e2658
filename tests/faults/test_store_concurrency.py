"""Several processes writing to one SQLite store at once do not corrupt it or lose rows.

Three ``run_search`` processes run at the same time on one file: two different runs (seeds 1 and
2) and a second copy of the seed-1 run, which must refuse the run the first copy has claimed (or,
when the first copy already finished, find it complete).  Afterwards the file passes
``PRAGMA integrity_check``, every row a process reported writing is there, and each run holds
exactly its budget of evaluations, one per step.
"""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from moo_nas.store import Store

ROOT = Path(__file__).resolve().parents[2]
N = 8

DRIVER = """
import json, sys
from moo_nas.engine import Budget, run_search
from moo_nas.evaluator import TrainingEvaluator, EvaluatorSpec, needed_providers
from moo_nas.objectives import make_objective
from moo_nas.store import Store
from moo_nas.training import Recipe
from moo_nas.strategy import Problem

store, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
objs = (make_objective("val_accuracy"), make_objective("model_bytes"))
recipe = Recipe(epochs=1, batch_size=256)  # the shortest real training
e = TrainingEvaluator(EvaluatorSpec("digits-cnn", {}, "digits", {}, recipe, objs, needed_providers(objs, [])))
pb = Problem(e.space, objs, e.task, recipe)
from moo_nas.errors import UserError
with Store(store, timeout=120) as s:
    try:
        r = run_search(s, pb, e, "random", {"batch": 2}, seed, Budget(evaluations=n), experiment="conc")
    except UserError as exc:
        print(json.dumps({"refused": str(exc)}))
        sys.exit(0)
print(json.dumps({"run": r.run_id, "rows": [[x.seq, x.genotype_key] for x in r.evaluations]}))
"""


def test_concurrent_writers_keep_the_store_whole(tmp_path):
    store = tmp_path / "shared.sqlite"
    script = tmp_path / "drive.py"
    script.write_text(DRIVER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, str(script), str(store), str(seed), str(N)], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for seed in (1, 2, 1)]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    con = sqlite3.connect(store)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    assert "refused" not in reports[1]
    seed1 = [reports[0], reports[2]]
    refused = [r for r in seed1 if "refused" in r]
    assert len(refused) <= 1  # one of the two copies runs it
    for r in refused:  # the other had claimed the run
        assert "is being executed by process" in r["refused"]
    ran = [r for r in seed1 if "refused" not in r]
    assert len({r["run"] for r in ran}) == 1  # a copy that started later found it complete
    reports = [reports[1], *ran]
    assert ran[0]["run"] != reports[0]["run"]
    with Store(store) as s:
        runs = s.runs("conc")
        assert len(runs) == 2
        stored = {r.id: s.evaluations(r.id) for r in runs}
    for r in runs:
        assert [x.seq for x in stored[r.id]] == list(range(N))  # one row per step, none twice
    for rep in reports:  # every row a process wrote (or found) is in the file
        have = {(x.seq, x.genotype_key) for x in stored[rep["run"]]}
        assert {tuple(row) for row in rep["rows"]} == have
    assert all(x.status == "ok" for xs in stored.values() for x in xs)
