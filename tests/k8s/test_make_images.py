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


def test_kind_registry_recipe(tmp_path):
    """mk/kind-registry.sh with fake docker/kind/kubectl: the registry container, a hosts.toml on every
    node mapping localhost:<port> to it, kind's network, and the local-registry-hosting ConfigMap."""
    log = tmp_path / "log"
    fakes = {
        "docker": f"""#!/bin/sh
echo "docker $*" >> {log}
case "$1" in
  inspect) case "$*" in *Networks*) echo null;; *) echo false;; esac;;
  exec) [ "$3" = cp ] || [ "$4" = cp ] && {{ echo "stdin for $*:" >> {log}; cat >> {log}; }};;
esac
exit 0
""",
        "kind": f'#!/bin/sh\necho "kind $*" >> {log}\necho genlab-control-plane\necho genlab-worker\n',
        "kubectl": f'#!/bin/sh\necho "kubectl $*" >> {log}\ncat >> {log}\n',
    }
    env = dict(os.environ)
    for name, text in fakes.items():
        (tmp_path / name).write_text(text)
        (tmp_path / name).chmod(0o755)
        env[name.upper()] = str(tmp_path / name)
    res = subprocess.run(
        [str(ROOT / "mk/kind-registry.sh"), "genlab", "5001"], env=env, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    text = log.read_text()
    assert "docker run -d --restart=always -p 127.0.0.1:5001:5000" in text and "registry:2.8.3" in text
    for node in ("genlab-control-plane", "genlab-worker"):
        assert f"docker exec {node} mkdir -p /etc/containerd/certs.d/localhost:5001" in text
    assert text.count('[host."http://genlab-registry:5000"]') == 2
    assert "docker network connect kind genlab-registry" in text
    assert 'host: "localhost:5001"' in text and "local-registry-hosting" in text
    assert "GENLAB_IMAGE_REGISTRY=localhost:5001/genlab" in res.stdout
