"""Host timing helpers (moo_nas.hardware.host)."""

import torch

from moo_nas.hardware.host import TimingProtocol, time_call, time_module


def test_time_call_runs_warmup_then_times_each_repeat():
    calls = []
    times = time_call(lambda: calls.append(1), warmup=2, repeats=3)
    assert len(calls) == 5 and len(times) == 3 and all(t >= 0 for t in times)


def test_time_module_times_forward_passes_in_eval_mode_and_restores_threads():
    seen = []
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Dropout(0.5))
    net.register_forward_hook(lambda m, i, o: seen.append((m.training, tuple(i[0].shape))))
    threads = torch.get_num_threads()
    times = time_module(net, (4,), TimingProtocol(batch=2, warmup=1, repeats=4))
    assert len(times) == 4 and len(seen) == 5
    assert all(mode is False and shape == (2, 4) for mode, shape in seen)
    assert torch.get_num_threads() == threads


def test_every_protocol_statistic_summarises():
    from moo_nas.hardware.host import STATISTICS, TimingProtocol

    times = [0.004, 0.001, 0.002, 0.003]
    got = {s: TimingProtocol(statistic=s).summarise(times) for s in STATISTICS}
    assert got["min"] == 0.001 and got["median"] == 0.0025 and got["total"] == 0.01
    assert got["min"] <= got["p10"] <= got["p25"] <= got["median"]
