"""train.mixed_precision: auto | true | false, resolved per process (genlab.train.precision)."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from genlab import config, models
from genlab.errors import ConfigError
from genlab.train import precision, train
from genlab.train.loop import load_model

# The first processor entry of this machine's /proc/cpuinfo (AMD EPYC, avx512_bf16), verbatim.
CPUINFO = Path(__file__).parent / "data" / "cpuinfo_epyc_avx512_bf16.txt"


def cpuinfo(tmp_path, text: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return path


def test_cpu_flags_from_a_real_cpuinfo(tmp_path):
    real = CPUINFO.read_text()
    assert " avx512_bf16 " in real
    assert precision.cpu_native_bf16(CPUINFO)
    without = real.replace(" avx512_bf16 ", " ")
    assert not precision.cpu_native_bf16(cpuinfo(tmp_path, without))
    assert precision.cpu_native_bf16(cpuinfo(tmp_path, without.replace(" avx512f ", " avx512f amx_bf16 ")))
    # every processor must have it; a missing or flag-less file means none
    assert not precision.cpu_native_bf16(cpuinfo(tmp_path, real + "\n" + without))
    assert not precision.cpu_native_bf16(tmp_path / "missing")
    assert not precision.cpu_native_bf16(cpuinfo(tmp_path, "processor\t: 0\n"))


def test_gpus_decide_when_present(tmp_path):
    no_flags = cpuinfo(tmp_path, CPUINFO.read_text().replace(" avx512_bf16 ", " "))
    assert precision.native_bf16(no_flags, gpus=[(8, 0)])
    assert precision.native_bf16(no_flags, gpus=[(9, 0), (8, 6)])
    assert not precision.native_bf16(CPUINFO, gpus=[(7, 5)])  # float16-only: float32 (no loss scaling)
    assert not precision.native_bf16(CPUINFO, gpus=[(8, 0), (7, 0)])
    assert precision.native_bf16(CPUINFO, gpus=[]) and not precision.native_bf16(no_flags, gpus=[])


def exp(model, setting="auto"):
    train_cfg = {} if setting == "auto" else {"mixed_precision": setting}
    return config.experiment_from_dict({"name": "p", "model": model, "train": train_cfg})


@pytest.fixture
def dcgan_safe(monkeypatch):
    """dcgan and vae marked bf16-safe whatever the parity table said, so these tests test the rule."""
    monkeypatch.setattr(models.family_config("dcgan"), "bf16_safe", True, raising=False)
    monkeypatch.setattr(models.family_config("vae"), "bf16_safe", True, raising=False)


def test_auto_needs_a_safe_family_and_native_hardware(dcgan_safe, monkeypatch):
    assert exp({"family": "dcgan"}).train.mixed_precision == "auto"  # the default
    assert precision.resolve(exp({"family": "dcgan"}), native=True)
    assert not precision.resolve(exp({"family": "dcgan"}), native=False)
    assert not precision.resolve(exp({"family": "pixelcnn"}), native=True)  # no bfloat16 at all
    assert not precision.resolve(exp({"family": "vae", "flow_steps": 2}), native=True)  # refuses true
    monkeypatch.setattr(models.family_config("dcgan"), "bf16_safe", False)
    assert not precision.resolve(exp({"family": "dcgan"}), native=True)


def test_true_and_false_are_kept_whatever_the_hardware():
    assert precision.resolve(exp({"family": "dcgan"}, True), native=False)
    assert not precision.resolve(exp({"family": "dcgan"}, False), native=True)
    assert "train.mixed_precision: true" in precision.describe(exp({"family": "dcgan"}, True), True)


@pytest.mark.parametrize("value", ["yes", "bf16", "Auto"])
def test_other_values_name_the_key_and_the_choices(value):
    with pytest.raises(
        ConfigError, match=rf"train.mixed_precision: expected auto, true or false, got '{value}'"
    ):
        exp({"family": "dcgan"}, value)


def test_true_on_a_family_without_bfloat16_stays_an_error():
    with pytest.raises(ConfigError, match="train.mixed_precision: not supported for model.family 'pixelcnn'"):
        exp({"family": "pixelcnn"}, True)
    assert exp({"family": "pixelcnn"}).train.mixed_precision == "auto"  # auto on it: float32, no error


def tiny(steps, setting):
    return config.experiment_from_dict(
        {
            "name": "p",
            "model": {"family": "dcgan", "latent_dim": 8, "width": 8},
            "train": {
                "steps": steps,
                "batch_size": 32,
                "log_every": 2,
                "checkpoint_every": 2,
                "mixed_precision": setting,
            },
        }
    )


@pytest.mark.slow
def test_resume_and_load_across_precisions(tiny_fashion, tmp_path, capsys, dcgan_safe, monkeypatch):
    """float32 -> resumed under auto on native hardware (bfloat16) -> loaded in float32: Keras keeps
    float32 variables under mixed_bfloat16, so checkpoints and weights files fit either way."""
    model_dir = tmp_path / "model"
    first = train(tiny(2, False), str(tiny_fashion), str(model_dir))
    assert first.precision == "float32"
    assert json.loads((model_dir / "model.json").read_text())["precision"] == "float32"

    monkeypatch.setattr(precision, "native_bf16", lambda: True)
    second = train(tiny(4, "auto"), str(tiny_fashion), str(model_dir))
    assert second.resumed_from == 2 and second.steps == 4 and second.precision == "bfloat16"
    out = capsys.readouterr().out
    assert "precision bfloat16 (auto: dcgan passed the bf16 parity check" in out
    assert json.loads((model_dir / "model.json").read_text())["precision"] == "bfloat16"

    with zipfile.ZipFile(model_dir / "generator.keras") as archive:  # the export computes in float32
        assert "mixed_bfloat16" not in archive.read("config.json").decode()
    _, model = load_model(str(model_dir), str(tiny_fashion))  # train() put the float32 policy back
    samples = model.sample(4, seed=0)
    assert samples.dtype == np.float32 and np.isfinite(samples).all()
    assert all(w.dtype == "float32" for net in model.networks.values() for w in net.weights)

    monkeypatch.setattr(precision, "native_bf16", lambda: False)
    third = train(tiny(6, "auto"), str(tiny_fashion), str(model_dir))  # back to float32 on other hardware
    assert third.resumed_from == 4 and third.precision == "float32"
    assert "precision float32 (auto: no native bfloat16 on this device)" in capsys.readouterr().out


def test_bf16_safe_families_passed_the_committed_parity_table():
    """``bf16_safe`` follows benchmarks/results.json: a family whose bfloat16 quality left the
    seed-to-seed spread (or was never measured) must not train in bfloat16 by default."""
    results = json.loads((Path(__file__).parents[2] / "benchmarks" / "results.json").read_text())
    rows = results["sections"]["bf16_parity"]["result"]["rows"]
    passed = {row["family"] for row in rows if row["within"]}
    safe = {f for f in models.names() if getattr(models.family_config(f), "bf16_safe", False)}
    assert safe and safe <= passed and safe <= set(models.mixed_precision_families())
