"""`make images`: the registry given to make is the one the images are tagged with.

Runs the real Makefile with a fake `docker` (DOCKER=...) that records its arguments; `-o install`
keeps make from touching the virtual environment.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from genlab import __version__

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not shutil.which("make"), reason="GNU make not installed")


def make_images(tmp_path: Path, *args: str, env: dict | None = None, target: str = "images") -> list[str]:
    calls = tmp_path / "calls"
    docker = tmp_path / "docker"
    docker.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    docker.chmod(0o755)
    venv = Path(sys.executable).parent.parent
    base = {k: v for k, v in os.environ.items() if k != "GENLAB_IMAGE_REGISTRY"}
    subprocess.run(
        ["make", "-s", "-o", "install", target, f"DOCKER={docker}", f"VENV={venv}", *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        check=True,
        capture_output=True,
        text=True,
    )
    return calls.read_text().splitlines()


def tags(calls: list[str]) -> list[str]:
    return [c.split(" -t ")[1].split()[0] for c in calls]


def test_command_line_registry_tags_both_images(tmp_path):
    calls = make_images(tmp_path, "GENLAB_IMAGE_REGISTRY=r.example/team/")
    assert tags(calls) == [
        f"r.example/team/genlab-trainer:{__version__}",
        f"r.example/team/genlab-trainer-gpu:{__version__}",
    ]
    assert "images/trainer.Dockerfile" in calls[0] and "images/trainer-gpu.Dockerfile" in calls[1]


def test_environment_registry_and_default(tmp_path):
    (tmp_path / "env").mkdir()
    calls = make_images(tmp_path / "env", env={"GENLAB_IMAGE_REGISTRY": "env.example/x"})
    assert tags(calls)[0] == f"env.example/x/genlab-trainer:{__version__}"
    (tmp_path / "default").mkdir()
    calls = make_images(tmp_path / "default")
    assert tags(calls)[0] == f"ghcr.io/genlab/genlab-trainer:{__version__}"


def test_push_images_pushes_the_tags_it_built(tmp_path):
    calls = make_images(tmp_path, "GENLAB_IMAGE_REGISTRY=r.example/x", target="push-images")
    built = tags([c for c in calls if c.startswith("build ")])
    pushed = [c.split()[1] for c in calls if c.startswith("push ")]
    assert pushed == built and all(t.startswith("r.example/x/") for t in pushed)
