"""The whole pipeline through kfp.local, as `genlab run` does it: prepare -> 2-worker training -> evaluate -> generate."""

import math
import os
import re
import subprocess
import sys

import pytest

GENLAB = [sys.executable, "-m", "genlab.cli"]


def genlab(*args, cwd=None, timeout=600):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([*GENLAB, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


@pytest.mark.slow
def test_tiny_preset_end_to_end_with_two_workers(tmp_path):
    result = genlab("run", "dcgan_tiny", "--workers", "2", "--runs", str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "[worker-0]" in out and "[worker-1]" in out  # both workers trained
    report = re.search(r"^report:\s+(\S+)", out, re.M).group(1)
    html = open(report).read()
    assert html.count("data:image/png;base64,") >= 3
    metrics = dict(re.findall(r"(\w+)=([-\d.e+]+)", out.split("metrics:")[1]))
    for key in ("fid", "kid", "precision", "recall", "classifier_accuracy"):
        assert math.isfinite(float(metrics[key]))
    assert "real-data floor" in out
    run_dir = re.search(r"^run dir:\s+(\S+)", out, re.M).group(1)
    for step in ("prepare-data", "train-model", "evaluate-model", "generate-samples"):
        assert os.path.isdir(os.path.join(run_dir, step))


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "nope"], "unknown preset 'nope'"),
        (["run", "dcgan_tiny", "--set", "train.stepz=3"], "unknown key 'train.stepz'"),
        (["run", "dcgan_tiny", "--set", "train.steps=abc"], "train.steps: expected an integer"),
        (["run", "dcgan_tiny", "--set", "data.source=/nowhere"], "data.source: folder /nowhere not found"),
    ],
)
def test_bad_input_fails_with_one_line_and_no_traceback(tmp_path, args, message):
    result = genlab(*args, "--runs", str(tmp_path))
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert message in text
    if "data.source" not in args[-1]:  # config errors fail before any work: no run folder
        assert not any(tmp_path.iterdir())
        assert "Traceback" not in text
