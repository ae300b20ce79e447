"""Shared fixtures: small IDX datasets made by the tests, and a prepared tiny Fashion-MNIST;
``loopback``, HTTP stand-ins on 127.0.0.1; ``imports_after``, what a fresh interpreter has loaded."""

import ast
import os
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
HEAVY = ("tensorflow", "keras", "kfp")


@pytest.fixture
def loopback():
    """``loopback(handler_class)`` serves it on a free port of 127.0.0.1 and returns the base URL;
    every server is shut down and its socket closed (later connections are refused) at teardown."""
    servers = []

    def start(handler) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def imports_after(code: str, modules=HEAVY) -> tuple[list[str], str, str]:
    """Run ``code`` in a fresh interpreter: (which of ``modules`` it loaded, its other output, its stderr)."""
    script = f"{code}\nimport sys\nprint(sorted(set({list(modules)!r}) & set(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    *printed, loaded = out.stdout.strip().splitlines()
    return ast.literal_eval(loaded), "\n".join(printed), out.stderr


def make_idx_folder(folder: Path, n_train: int = 64, n_test: int = 32, size: int = 28, seed: int = 0) -> Path:
    """Four gzipped IDX files shaped like Fashion-MNIST, with class-dependent images."""
    from genlab.data.idx import write_idx

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = np.zeros((n, size, size), np.uint8)
        for i, y in enumerate(labels):  # a bar whose row depends on the class, plus noise
            images[i, 2 + 2 * y : 4 + 2 * y, 4:-4] = 255
            images[i] |= rng.integers(0, 40, (size, size), dtype=np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder


@pytest.fixture
def idx_folder(tmp_path) -> Path:
    return make_idx_folder(tmp_path / "raw")


@pytest.fixture(scope="session")
def tiny_fashion(tmp_path_factory):
    """A prepared dataset of 512 + 256 real Fashion-MNIST images (the Debian package's files)."""
    from genlab import config, data

    if not (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"{FASHION_MNIST} missing: `make test` installs dataset-fashion-mnist")
    exp = config.experiment_from_dict(
        {
            "name": "tiny",
            "model": {"family": "dcgan"},
            "data": {"max_train": 512, "max_test": 256, "shards": 2},
        }
    )
    out = tmp_path_factory.mktemp("tiny") / "data"
    data.prepare(exp, str(out))
    return out
