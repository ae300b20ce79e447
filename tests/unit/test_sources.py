"""Raw dataset sources: a local folder, https with sha256 checks and retries (served on loopback).

The servers here serve the real Fashion-MNIST files (the Debian package's), and fail the ways a
mirror does: 503s, bodies cut short, 404s. Backoff waits are recorded, never slept.
"""

import gzip
import http.server
from pathlib import Path

import pytest

from genlab.data import sources
from genlab.data.sources import FASHION_MNIST, MNIST, fetch_idx
from genlab.errors import DataError
from tests.conftest import FASHION_MNIST as DEBIAN_DIR
from tests.conftest import make_idx_folder


class Mirror(http.server.BaseHTTPRequestHandler):
    """Serves ``folder``'s files; the first ``fail`` requests get ``fail_code`` or a cut body."""

    folder: Path
    fail = 0
    fail_code = 503  # or "truncate": the full Content-Length, half the bytes, then close
    requests: list

    def do_GET(self):
        cls = type(self)
        cls.requests.append(self.path)
        path = cls.folder / self.path.lstrip("/")
        if not path.is_file():
            return self.send_error(404)
        if len(cls.requests) <= cls.fail and cls.fail_code != "truncate":
            return self.send_error(cls.fail_code)
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if len(cls.requests) <= cls.fail:
            body = body[: len(body) // 2]
            self.close_connection = True
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def serve(loopback):
    """``serve(folder, fail=k)``: a mirror of ``folder`` whose first k requests fail; (URL, requests)."""

    def start(folder, fail=0, fail_code=503):
        handler = type(
            "M", (Mirror,), {"folder": Path(folder), "fail": fail, "fail_code": fail_code, "requests": []}
        )
        return loopback(handler), handler.requests

    return start


@pytest.fixture
def waits(monkeypatch, tmp_path):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    slept = []
    monkeypatch.setattr(sources, "_sleep", slept.append)
    return slept


def cached(tmp_path):
    return tmp_path / "cache" / "datasets" / "fashion_mnist"


def test_https_download_is_checked_and_cached(serve, waits, tmp_path):
    url, requests = serve(DEBIAN_DIR)  # the real files: their content matches the registry
    local = fetch_idx(FASHION_MNIST, url)
    assert local == cached(tmp_path)
    for name, sha in FASHION_MNIST.sha256.items():
        assert sources.content_sha256(local / name) == sha
    assert len(requests) == 4 and waits == []
    assert fetch_idx(FASHION_MNIST, "http://127.0.0.1:9/unused") == local  # cached: no download


def test_the_mirrors_gzip_bytes_pass_too(serve, waits, tmp_path):
    """The mirror's .gz files are not byte-identical to Debian's (Debian re-compressed them,
    dropping the file name from the gzip header): the check is on the IDX content."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in FASHION_MNIST.sha256:
        with gzip.open(DEBIAN_DIR / name) as f, open(mirror / name, "wb") as out:
            with gzip.GzipFile(
                name[: -len(".gz")], "wb", compresslevel=1, fileobj=out, mtime=1503000000
            ) as gz:
                gz.write(f.read())
        assert sources.sha256_file(mirror / name) != sources.sha256_file(DEBIAN_DIR / name)
    url, _ = serve(mirror)
    assert fetch_idx(FASHION_MNIST, url) == cached(tmp_path)


def test_default_mirrors_serve_https():
    # Keras' own Fashion-MNIST mirror; an S3 *website* endpoint answers http only.
    assert FASHION_MNIST.url == "https://storage.googleapis.com/tensorflow/tf-keras-datasets"
    for ds in (FASHION_MNIST, MNIST):
        assert ds.url.startswith("https://") and "s3-website" not in ds.url


def test_503s_are_retried_with_exponential_backoff(serve, waits, tmp_path, capsys):
    url, requests = serve(DEBIAN_DIR, fail=2, fail_code=503)
    local = fetch_idx(FASHION_MNIST, url)
    assert waits == [1.0, 2.0]
    assert requests[:3] == ["/train-images-idx3-ubyte.gz"] * 3 and len(requests) == 6
    assert (
        sources.content_sha256(local / "train-images-idx3-ubyte.gz")
        == FASHION_MNIST.sha256["train-images-idx3-ubyte.gz"]
    )
    err = capsys.readouterr().err
    assert "503 Service Unavailable; retrying in 1s (attempt 2 of 5)" in err


def test_a_truncated_body_is_retried(serve, waits, tmp_path):
    url, requests = serve(DEBIAN_DIR, fail=1, fail_code="truncate")
    local = fetch_idx(FASHION_MNIST, url)
    assert waits == [1.0] and len(requests) == 5
    assert (
        sources.content_sha256(local / "train-images-idx3-ubyte.gz")
        == FASHION_MNIST.sha256["train-images-idx3-ubyte.gz"]
    )


def test_always_truncated_fails_after_bounded_attempts_and_keeps_nothing(serve, waits, tmp_path):
    url, requests = serve(DEBIAN_DIR, fail=100, fail_code="truncate")
    with pytest.raises(
        DataError, match=r"train-images-idx3-ubyte.gz: download failed after 5 attempts \(last: short read"
    ):
        fetch_idx(FASHION_MNIST, url)
    assert len(requests) == 5 and waits == [1.0, 2.0, 4.0, 8.0]
    assert not any(cached(tmp_path).iterdir())  # no file, and no temporary left behind


def test_404_fails_at_once_naming_url_expectation_and_data_source(serve, waits, tmp_path):
    url, requests = serve(tmp_path / "empty")
    with pytest.raises(DataError) as e:
        fetch_idx(FASHION_MNIST, url)
    msg = str(e.value)
    assert msg.startswith(f"{url}/train-images-idx3-ubyte.gz: 404 Not Found")
    assert FASHION_MNIST.sha256["train-images-idx3-ubyte.gz"] in msg and "data.source" in msg
    assert len(requests) == 1 and waits == []


def test_sha256_mismatch_fails_at_once_and_keeps_nothing(serve, waits, tmp_path):
    url, requests = serve(make_idx_folder(tmp_path / "fake"))  # same names, different bytes
    with pytest.raises(
        DataError, match=r"train-images-idx3-ubyte.gz: sha256 mismatch: expected c59f468a.*data.source"
    ):
        fetch_idx(FASHION_MNIST, url)
    assert len(requests) == 1 and waits == []
    assert not any(cached(tmp_path).iterdir())


def test_a_corrupt_cached_file_is_downloaded_again(serve, waits, tmp_path):
    url, _ = serve(DEBIAN_DIR)
    local = fetch_idx(FASHION_MNIST, url)
    (local / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b broken")
    url2, requests = serve(DEBIAN_DIR)
    fetch_idx(FASHION_MNIST, url2)
    assert requests == ["/t10k-labels-idx1-ubyte.gz"]


def test_unreachable_host_is_retried_then_named(waits):
    with pytest.raises(
        DataError, match=r"http://127.0.0.1:9/train-images-idx3-ubyte.gz: download failed after 5"
    ):
        fetch_idx(FASHION_MNIST, "http://127.0.0.1:9")
    assert waits == [1.0, 2.0, 4.0, 8.0]


def test_default_source_is_the_debian_folder():
    assert fetch_idx(FASHION_MNIST, "") == DEBIAN_DIR
