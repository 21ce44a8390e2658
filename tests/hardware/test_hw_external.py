"""External-device backend against a measuring script written by the test itself."""

import json
import sys
import textwrap

import pytest

from moo_nas.hardware.external import ExternalDevice, MeasurementFailed
from moo_nas.objectives import Candidate
from moo_nas.spaces import make_space

SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    mode, onnx_path, counter = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(counter, "a") as fh:
        fh.write("x")
    if mode == "good":
        import onnx
        model = onnx.load(onnx_path)          # the file really is an ONNX model
        n = len(model.graph.node)
        print("board log line")
        print(json.dumps({"latency_ms": 1.5 * n, "energy_mj": 0.25 * n, "device": "test-board"}))
    elif mode == "nolatency":
        print(json.dumps({"energy_mj": 1.0}))
    elif mode == "garbage":
        print("this is not json {")
    elif mode == "sleep":
        time.sleep(30)
    elif mode == "fail":
        print("flashing failed: board not found", file=sys.stderr)
        sys.exit(3)
""")


@pytest.fixture
def setup(tmp_path):
    script = tmp_path / "measure.py"
    script.write_text(SCRIPT)
    counter = tmp_path / "calls.txt"
    space = make_space("digits-cnn", (1, 8, 8), 10)
    g = space.seed_genotype()
    cand = Candidate(space, g, space.arch(g))

    def provider(mode, **kw):
        cmd = [sys.executable, str(script), mode, "{onnx}", str(counter)]
        return ExternalDevice(command=cmd, device="test-board", **kw)

    def calls():
        return len(counter.read_text()) if counter.exists() else 0

    return provider, cand, calls, tmp_path


def test_good_output_is_read_and_cached(setup):
    provider, cand, calls, tmp = setup
    p = provider("good", cache_file=str(tmp / "cache.json"))
    v = p.compute(cand)
    assert v["ext_latency_ms"].origin == "measured"
    n_nodes = v["ext_latency_ms"].value / 1.5
    assert n_nodes == int(n_nodes) and n_nodes >= 4  # conv x3, pooling, linear at least
    assert v["ext_energy_mj"].value == pytest.approx(0.25 * n_nodes)
    assert "test-board" in v["ext_latency_ms"].source
    assert calls() == 1
    p.compute(cand)                      # same structure: no second run
    assert calls() == 1
    p2 = provider("good", cache_file=str(tmp / "cache.json"))
    assert p2.compute(cand)["ext_latency_ms"].value == v["ext_latency_ms"].value
    assert calls() == 1                  # read back from the JSON cache file


def test_garbage_output_fails(setup):
    provider, cand, _, _ = setup
    with pytest.raises(MeasurementFailed, match="not a JSON object"):
        provider("garbage").compute(cand)
    with pytest.raises(MeasurementFailed, match="latency_ms"):
        provider("nolatency").compute(cand)


def test_timeout_fails(setup):
    provider, cand, _, _ = setup
    with pytest.raises(MeasurementFailed, match="timed out after 1 s"):
        provider("sleep", timeout_s=1).compute(cand)


def test_nonzero_exit_fails_with_message(setup):
    provider, cand, calls, _ = setup
    p = provider("fail")
    with pytest.raises(MeasurementFailed, match="status 3: flashing failed: board not found"):
        p.compute(cand)
    with pytest.raises(MeasurementFailed):  # failures are not cached as results
        p.compute(cand)
    assert calls() == 2


def test_bad_options_are_user_errors():
    from moo_nas.errors import UserError

    with pytest.raises(UserError, match="list of arguments"):
        ExternalDevice(command="python measure.py")
    with pytest.raises(UserError, match="timeout_s"):
        ExternalDevice(command=["x"], timeout_s=0)
