"""Transfer matrix, Jaccard and noise floor on small hand-built tables."""

import numpy as np
import pytest

from moo_nas.objectives import Value, make_objective
from moo_nas.tabular.table import Table, TableInfo, TableRow
from moo_nas.tabular.transfer import analyse, verdict

ERR = make_objective("val_error")
A, B = make_objective("raspi4_latency_ms"), make_objective("pixel3_latency_ms")


def _table(err, lat_a, lat_b, status=None):
    rows = []
    for i, (e, la, lb) in enumerate(zip(err, lat_a, lat_b)):
        v = {"val_error": Value(e, "measured", "t"), A.name: Value(la, "measured", "t"),
             B.name: Value(lb, "measured", "t")}
        rows.append(TableRow((("x", i),), -1, (status or {}).get(i, "ok"), v, 1.0, "gpu"))
    return Table(TableInfo("t", "x", "test"), rows)


ERR_V = [0.1, 0.2, 0.3, 0.4]
LAT = [4.0, 3.0, 2.0, 1.0]  # every cell on the front when latency falls as error rises


def test_identical_devices_transfer_fully():
    t = _table(ERR_V, LAT, LAT)
    s = analyse(t, {0: t, 1: t}, {"a": (ERR, A), "b": (ERR, B)})
    assert np.allclose(s.jaccard, 1.0) and np.allclose(s.transfer, 1.0)
    assert np.allclose(s.noise, 1.0) and not s.beyond_noise(0, 1)
    assert "does not hold" in verdict(s, 0, 1)


def test_opposite_devices_lose_hypervolume_beyond_noise():
    # on b, latency rises with error: only cell 0 is Pareto-optimal there
    t = _table(ERR_V, LAT, [1.0, 2.0, 3.0, 4.0])
    s = analyse(t, {0: t, 1: t}, {"a": (ERR, A), "b": (ERR, B)})
    assert s.jaccard[0, 1] == pytest.approx(1 / 4)
    assert s.transfer[1, 0] < 1.0 and s.transfer[0, 1] == pytest.approx(1.0)  # a's set holds b's
    assert s.beyond_noise(1, 0) and not s.beyond_noise(0, 1)
    assert "holds in one direction only" in verdict(s, 0, 1)


def test_excluded_rows_take_no_part():
    t = _table(ERR_V + [0.9], LAT + [0.001], LAT + [0.001], status={4: "infeasible"})
    s = analyse(t, {0: t, 1: t}, {"a": (ERR, A), "b": (ERR, B)})
    assert len(s.views["a"].keys) == 4 and s.views["a"].norm.ideal[1] == 1.0
