"""Static checks of images/*.Dockerfile (no Docker engine here): pinned bases, non-root,
no credentials, every COPY source present in the build context (the repository root)."""

import fnmatch
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "images").glob("*.Dockerfile"))
SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL)", re.I)


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and heredoc bodies skipped."""
    out, buf, heredoc = [], "", None
    for line in path.read_text().splitlines():
        if heredoc:
            if line.strip() == heredoc:
                heredoc = None
            continue
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        buf += line.rstrip("\\").strip() + " "
        if line.rstrip().endswith("\\"):
            continue
        m = re.search(r"<<-?'?(\w+)'?", buf)
        if m:
            heredoc = m.group(1)
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def test_both_images_exist():
    assert {p.name for p in DOCKERFILES} == {"trainer.Dockerfile", "trainer-gpu.Dockerfile"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_base_image_is_pinned(dockerfile):
    froms = [args for word, args in instructions(dockerfile) if word == "FROM"]
    assert froms
    for args in froms:
        image = args.split()[0]
        name, _, tag = image.partition(":")
        assert tag and tag != "latest" and re.search(r"\d+\.\d+\.\d+", tag), (
            f"{dockerfile.name}: {image} not pinned"
        )


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_runs_as_non_root(dockerfile):
    users = [args for word, args in instructions(dockerfile) if word == "USER"]
    assert users, f"{dockerfile.name}: no USER"
    user = users[-1].split(":")[0]
    assert user not in ("0", "root") and user == "1000"  # the TFJob pods' runAsUser
    text = dockerfile.read_text()
    for path in ("/minio", "/gcs", "/s3", "/mnt/genlab"):  # KFP launcher's local artifact roots, the PVC
        assert path in text


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_no_credentials(dockerfile):
    for word, args in instructions(dockerfile):
        if word in ("ENV", "ARG"):
            names = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=", " " + args) or [args.split()[0]]
            for name in names:
                assert not SECRET_NAME.search(name), f"{dockerfile.name}: {word} {name}"
        if word in ("COPY", "ADD"):
            assert not re.search(r"\.(json|pem|key|p12)\b|\.env\b|kubeconfig|\.ssh", args), args
        assert word != "ADD" or "://" not in args, f"{dockerfile.name}: ADD from a URL"
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in dockerfile.read_text()


def dockerignore_patterns() -> list[str]:
    path = ROOT / ".dockerignore"
    if not path.exists():
        return []
    return [
        p.strip().rstrip("/") for p in path.read_text().splitlines() if p.strip() and not p.startswith("#")
    ]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_copy_sources_exist_in_context(dockerfile):
    ignored = dockerignore_patterns()
    for word, args in instructions(dockerfile):
        if word != "COPY":
            continue
        parts = [a for a in args.split() if not a.startswith("--")]
        for src in parts[:-1]:
            assert (ROOT / src).exists(), f"{dockerfile.name}: COPY {src}: not in the build context"
            assert not any(fnmatch.fnmatch(src, pat) for pat in ignored if not pat.startswith("!")), src


def test_tensorflow_pins():
    """Each image installs one TensorFlow through genlab's extras (the two would share a module)."""
    import tomllib

    cpu = (ROOT / "images/trainer.Dockerfile").read_text()
    gpu = (ROOT / "images/trainer-gpu.Dockerfile").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("tensorflow")]
    extras = project["optional-dependencies"]
    assert "tensorflow-cpu>=2.21,<2.22; platform_machine == 'x86_64'" in extras["cpu"]
    assert extras["gpu"] == ["tensorflow[and-cuda]>=2.21,<2.22"]
    assert 'pip install ".[cpu]"' in cpu and "[gpu]" not in cpu
    assert 'pip install ".[gpu]"' in gpu and "[cpu]" not in gpu
    mk = (ROOT / "mk/cluster.mk").read_text()
    assert "trainer_image(False)" in mk and "trainer_image(True)" in mk


def env_of(dockerfile: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, args in instructions(dockerfile):
        if word == "ENV":
            env.update(dict(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", args)))
    return env


def test_gpu_image_finds_the_driver_gke_mounts():
    """GKE mounts the node's NVIDIA driver at /usr/local/nvidia (lib64 for libcuda, bin for nvidia-smi)."""
    env = env_of(ROOT / "images/trainer-gpu.Dockerfile")
    assert "/usr/local/nvidia/lib64" in env.get("LD_LIBRARY_PATH", "").split(":")
    path = env.get("PATH", "").split(":")
    assert "/usr/local/nvidia/bin" in path
    assert "/usr/local/bin" in path and "/usr/bin" in path  # python and pip still found
    assert "LD_LIBRARY_PATH" not in env_of(ROOT / "images/trainer.Dockerfile")
