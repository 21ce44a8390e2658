"""GPU and RAPL meters: clear errors where the meter is missing, counter arithmetic."""

import pytest
import torch

from moo_nas.errors import UserError
from moo_nas.hardware import gpu, rapl
from moo_nas.objectives import make_provider, metric, provider_for


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without CUDA")
def test_gpu_metrics_without_cuda_are_a_user_error():
    assert provider_for("gpu_latency_ms") == "gpu-cuda"
    assert "unavailable here" in metric("gpu_energy_mj").description
    with pytest.raises(UserError, match="no CUDA GPU is visible"):
        make_provider("gpu-cuda")
    with pytest.raises(UserError, match="gpu_energy_mj cannot be measured"):
        make_provider("gpu-nvml")
    with pytest.raises(UserError, match="CUDA"):
        gpu.time_cuda(torch.nn.Identity(), (1, 4), gpu.TimingProtocol())
    assert gpu.nvml_energy_reason() is not None


def _fake_powercap(root, energy, max_range):
    pkg = root / "intel-rapl:0"
    sub = pkg / "intel-rapl:0:0"
    sub.mkdir(parents=True)
    (pkg / "name").write_text("package-0\n")
    (pkg / "energy_uj").write_text(f"{energy}\n")
    (pkg / "max_energy_range_uj").write_text(f"{max_range}\n")
    (sub / "name").write_text("core\n")
    return pkg


def test_rapl_reader_and_wraparound(tmp_path):
    assert rapl.unavailable_reason(tmp_path / "missing") is not None
    _fake_powercap(tmp_path, 1000, 5000)
    doms = rapl.package_domains(tmp_path)
    assert [d.name for d in doms] == ["package-0"] and doms[0].read_uj() == 1000
    assert rapl.unavailable_reason(tmp_path) is None
    assert rapl.energy_delta_uj(4000, 500, 5000) == 1500
    assert rapl.energy_delta_uj(100, 600, 5000) == 500


@pytest.mark.skipif(rapl.unavailable_reason() is None, reason="RAPL is readable here")
def test_rapl_metric_without_counter_is_a_user_error():
    with pytest.raises(UserError, match="cpu_energy_mj cannot be measured"):
        make_provider("rapl")
