"""Where raw datasets come from: a local folder, https (sha256-checked, retried) or ``gs://``.

Downloads land in a cache folder under a temporary name and are renamed only after their
checksum matches, so a broken download never looks like a dataset. Transient failures
(connection errors, timeouts, 5xx, short reads) are retried with exponential backoff; a 404
or a checksum mismatch fails at once, since asking again cannot help.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from genlab.errors import DataError

ATTEMPTS = 5  # per file; waits of 1, 2, 4, 8 s between them
BACKOFF_S = 1.0
_sleep = time.sleep  # tests replace it: no real waiting, and the waits can be checked
AIR_GAPPED = (
    "point data.source at a folder, https:// or gs:// location holding the four IDX .gz files "
    "(e.g. --set data.source=gs://BUCKET/fashion-mnist; see docs/cluster.md, 'Air-gapped clusters')"
)


@dataclass(frozen=True)
class IdxDataset:
    name: str
    default_dir: str  # where a system package puts the files
    url: str  # an https folder holding the four .gz files
    # file name -> sha256 of the *decompressed* IDX bytes. Not of the .gz: Debian's package
    # re-compressed the upstream files (no file name in the gzip header, another mtime), so
    # the .gz bytes differ between mirrors while the IDX content is the same everywhere.
    sha256: dict
    class_names: tuple[str, ...]

    def files(self, split: str) -> tuple[str, str]:
        prefix = "train" if split == "train" else "t10k"
        return f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"


FASHION_MNIST = IdxDataset(
    name="fashion_mnist",
    default_dir="/usr/share/datasets/fashion-mnist",  # Debian: dataset-fashion-mnist
    # The https mirror Keras downloads Fashion-MNIST from (keras/src/datasets/fashion_mnist.py,
    # same IDX file names). The upstream README's S3 *website* endpoint serves http only.
    url="https://storage.googleapis.com/tensorflow/tf-keras-datasets",
    sha256={  # checked against the Debian package's files (the same IDX content as upstream's)
        "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
)

MNIST = IdxDataset(
    name="mnist",
    default_dir="/usr/share/datasets/mnist",
    # Keras ships MNIST as mnist.npz, not IDX; this is the https S3 (REST, not website) mirror
    # torchvision downloads the IDX files from (pytorch/vision torchvision/datasets/mnist.py).
    url="https://ossci-datasets.s3.amazonaws.com/mnist",
    sha256={
        "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    class_names=tuple(str(d) for d in range(10)),
)

IDX_DATASETS = {d.name: d for d in (FASHION_MNIST, MNIST)}


def cache_dir() -> Path:
    return Path(os.environ.get("GENLAB_CACHE", Path.home() / ".cache" / "genlab"))


def _sha256_of(f) -> str:
    """sha256 of an open binary file, read in 1 MiB blocks (bounded memory)."""
    h = hashlib.sha256()
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return _sha256_of(f)


def content_sha256(path: Path) -> str:
    """sha256 of a .gz file's decompressed bytes (raises EOFError/BadGzipFile/zlib.error)."""
    with gzip.open(path, "rb") as f:
        return _sha256_of(f)


def _is_intact(path: Path, expected: str | None) -> bool:
    try:
        return path.is_file() and (expected is None or content_sha256(path) == expected)
    except (OSError, EOFError, zlib.error):
        return False


class _Transient(Exception):
    """A failure that another attempt may not see: retried with backoff."""


def _verify(url: str, tmp: Path, expected: str | None, idx_gz: bool) -> None:
    """An IDX .gz is checked by its decompressed content; any other file by its own bytes."""
    if not idx_gz:
        got = sha256_file(tmp)
        if expected and got != expected:
            raise DataError(f"{url}: sha256 mismatch: expected {expected}, got {got}; check data.source")
        return
    try:
        got = content_sha256(tmp)
    except EOFError as e:  # a body cut short without a Content-Length to tell
        raise _Transient(f"truncated gzip data ({e})") from None
    except (OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError: not a .gz at all
        raise DataError(f"{url}: not a gzip file ({e}); expected an IDX .gz file; {AIR_GAPPED}") from None
    if expected and got != expected:
        raise DataError(
            f"{url}: sha256 mismatch: expected {expected} (of the decompressed IDX data), got {got}; "
            f"this is not the dataset's file. {AIR_GAPPED}"
        )


def _download_once(url: str, tmp: Path, expected: str | None, idx_gz: bool, hint: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as out:
            length = resp.headers.get("Content-Length")
            size = 0
            for block in iter(lambda: resp.read(1 << 20), b""):
                out.write(block)
                size += len(block)
        if length is not None and size < int(length):
            raise _Transient(f"short read: {size} of {length} bytes")
    except urllib.error.HTTPError as e:
        if e.code >= 500 or e.code in (408, 429):
            raise _Transient(f"{e.code} {e.reason}") from None
        if idx_gz:
            hint = f"(sha256 {expected} of its decompressed IDX data). {hint}"
        else:
            hint = f"; {hint}" if hint != AIR_GAPPED else "; check data.source"
        raise DataError(f"{url}: {e.code} {e.reason}; expected the dataset file there {hint}") from None
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as e:
        raise _Transient(str(getattr(e, "reason", e) or type(e).__name__)) from None
    _verify(url, tmp, expected, idx_gz)


def _download_https(
    url: str, dest: Path, expected_sha256: str | None, *, idx_gz: bool = False, hint: str = ""
) -> None:
    """Download ``url`` to ``dest`` atomically, retrying transient failures with backoff.

    ``hint``: what to do instead when the file cannot be had (default: the IDX datasets' advice)."""
    hint = hint or AIR_GAPPED
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                _download_once(url, tmp, expected_sha256, idx_gz, hint)
                os.replace(tmp, dest)
                return
            except _Transient as e:
                if attempt == ATTEMPTS:
                    raise DataError(
                        f"{url}: download failed after {ATTEMPTS} attempts (last: {e}); check the "
                        f"network, or {hint}"
                    ) from None
                wait = BACKOFF_S * 2 ** (attempt - 1)
                print(
                    f"{url}: {e}; retrying in {wait:g}s (attempt {attempt + 1} of {ATTEMPTS})",
                    file=sys.stderr,
                )
                _sleep(wait)
    except OSError as e:  # the cache folder itself: disk full, read-only
        raise DataError(f"{dest}: could not write the download: {e}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _download_gcs(uri: str, dest: Path, expected_sha256: str | None, *, idx_gz: bool = False) -> None:
    """The storage client retries transient errors itself and checks the object's checksum."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc
    from google.cloud import storage

    bucket_name, _, blob_name = uri[len("gs://") :].partition("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    os.close(fd)
    try:
        storage.Client().bucket(bucket_name).blob(blob_name).download_to_filename(tmp, timeout=60)
        _verify(uri, Path(tmp), expected_sha256, idx_gz)
        os.replace(tmp, dest)
    except _Transient as e:
        raise DataError(f"{uri}: {e}; the object in the bucket is incomplete. {AIR_GAPPED}") from None
    except auth_exc.DefaultCredentialsError:
        raise DataError(
            f"{uri}: no Google Cloud credentials (application default credentials or Workload "
            f"Identity expected; run `gcloud auth application-default login`)"
        ) from None
    except (gexc.GoogleAPIError, OSError) as e:
        raise DataError(f"{uri}: could not read from GCS: {e}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def fetch_idx(ds: IdxDataset, source: str) -> Path:
    """A local folder that holds the dataset's four IDX files, fetching them if needed."""
    names = [*ds.files("train"), *ds.files("test")]
    if not source:
        default = Path(ds.default_dir)
        if all((default / n).is_file() for n in names):
            return default
        source = ds.url
    if source.startswith(("https://", "http://", "gs://")):
        local = cache_dir() / "datasets" / ds.name
        for name in names:
            dest = local / name
            expected = ds.sha256.get(name)
            if _is_intact(dest, expected):
                continue
            uri = f"{source.rstrip('/')}/{name}"
            if source.startswith("gs://"):
                _download_gcs(uri, dest, expected, idx_gz=True)
            else:
                _download_https(uri, dest, expected, idx_gz=True)
        return local
    folder = Path(source)
    if not folder.is_dir():
        raise DataError(
            f"data.source: folder {folder} not found (expected the four IDX .gz files of {ds.name})"
        )
    return folder
