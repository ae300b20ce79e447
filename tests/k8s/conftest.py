"""Make the repository root importable (``pipelines`` is not an installed package); the fake KFP
server's fixtures."""

import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture
def serve():
    """``serve(fake)`` starts a FakeKFP (tests/k8s/fake_kfp.py) on a free port and returns its URL."""
    servers = []

    def start(fake):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """The compiled package of fake_kfp.tiny."""
    from kfp import compiler

    from tests.k8s.fake_kfp import tiny

    path = tmp_path_factory.mktemp("pkg") / "tiny.yaml"
    compiler.Compiler().compile(tiny, str(path))
    return path
