"""``moo-nas measure`` and ``moo-nas calibrate``."""

import json

from moo_nas.cli import main


def test_measure_seed_with_mcu(capsys):
    assert main(["measure", "--genotype", "seed", "--provider", "mcu", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["genotype"]["depth"] == 3
    assert rows[0]["values"]["mcu_latency_ms"]["origin"] == "modelled"


def test_gpu_latency_is_measured_on_a_gpu_and_refused_in_one_sentence_without(capsys):
    import torch

    rc = main(["measure", "--genotype", "seed", "--provider", "gpu-cuda", "--json"])
    out = capsys.readouterr()
    if torch.cuda.is_available():  # a GPU machine: the real measurement, with its provenance
        assert rc == 0
        values = json.loads(out.out)[0]["values"]
        assert values["gpu_latency_ms"]["origin"] == "measured" and values["gpu_latency_ms"]["value"] > 0
    else:
        assert rc == 2 and "no CUDA GPU" in out.err and len(out.err.strip().splitlines()) == 1


def test_calibrate_writes_json(tmp_path, capsys):
    out = tmp_path / "cal.json"
    rc = main(["calibrate", "--space", "digits-cnn", "--provider", "onnxruntime",
               "--provider-option", "warmup=2", "--provider-option", "repeats=5",
               "-k", "10", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "held-out MAPE" in text and "speed-up" in text
    data = json.loads(out.read_text())
    assert data["metric"] == "latency_ort_ms" and data["stats"]["n_test"] >= 2


def test_measure_takes_every_provider_given(capsys):
    # `--provider A --provider B` once kept only the last provider's metrics
    assert main(["measure", "--genotype", "seed", "--provider", "analytic", "--provider", "mcu",
                 "--json"]) == 0
    values = json.loads(capsys.readouterr().out)[0]["values"]
    assert "macs" in values and "mcu_latency_ms" in values
    assert values["macs"]["origin"] == values["mcu_latency_ms"]["origin"] == "modelled"


def test_provider_options_with_several_providers_are_refused(capsys):
    rc = main(["measure", "--genotype", "seed", "--provider", "analytic", "--provider", "mcu",
               "--provider-option", "target=stm32h743"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "one provider" in err and len(err.splitlines()) == 1
