"""Raw dataset sources: a local folder, https with sha256 checks (served here on loopback)."""

import functools
import http.server
import threading

import pytest

from genlab.data import sources
from genlab.data.sources import FASHION_MNIST, fetch_idx
from genlab.errors import DataError
from tests.conftest import FASHION_MNIST as DEBIAN_DIR
from tests.conftest import make_idx_folder


@pytest.fixture
def serve():
    servers = []

    def start(folder):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *a, **k: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for s in servers:
        s.shutdown()


def test_https_download_is_checked_and_cached(serve, tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    url = serve(DEBIAN_DIR)  # the real files: their sha256 matches the registry
    local = fetch_idx(FASHION_MNIST, url)
    assert local == tmp_path / "cache" / "datasets" / "fashion_mnist"
    for name, sha in FASHION_MNIST.sha256.items():
        assert sources.sha256_file(local / name) == sha
    assert fetch_idx(FASHION_MNIST, "http://127.0.0.1:9/unused") == local  # cached: no download


def test_sha256_mismatch_keeps_nothing(serve, tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    url = serve(make_idx_folder(tmp_path / "fake"))  # same names, different bytes
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: sha256 mismatch: expected b0564c3e"):
        fetch_idx(FASHION_MNIST, url)
    cached = tmp_path / "cache" / "datasets" / "fashion_mnist"
    assert not any(cached.iterdir())  # no file, and no temporary left behind


def test_unreachable_host(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataError, match=r"http://127.0.0.1:9/train-images-idx3-ubyte.gz: download failed"):
        fetch_idx(FASHION_MNIST, "http://127.0.0.1:9")


def test_default_source_is_the_debian_folder():
    assert fetch_idx(FASHION_MNIST, "") == DEBIAN_DIR
