"""Where raw datasets come from: a local folder, https (sha256-checked) or ``gs://``.

Downloads land in a cache folder under a temporary name and are renamed only after their
checksum matches, so a broken download never looks like a dataset.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from genlab.errors import DataError


@dataclass(frozen=True)
class IdxDataset:
    name: str
    default_dir: str  # where a system package puts the files
    url: str  # the official https folder
    sha256: dict  # file name -> sha256 of the .gz file
    class_names: tuple[str, ...]

    def files(self, split: str) -> tuple[str, str]:
        prefix = "train" if split == "train" else "t10k"
        return f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"


FASHION_MNIST = IdxDataset(
    name="fashion_mnist",
    default_dir="/usr/share/datasets/fashion-mnist",  # Debian: dataset-fashion-mnist
    url="https://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
    sha256={
        "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
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
    url="https://ossci-datasets.s3.amazonaws.com/mnist",
    sha256={
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    class_names=tuple(str(d) for d in range(10)),
)

IDX_DATASETS = {d.name: d for d in (FASHION_MNIST, MNIST)}


def cache_dir() -> Path:
    return Path(os.environ.get("GENLAB_CACHE", Path.home() / ".cache" / "genlab"))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download_https(url: str, dest: Path, expected_sha256: str | None) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            shutil.copyfileobj(resp, out)
        got = sha256_file(Path(tmp))
        if expected_sha256 and got != expected_sha256:
            raise DataError(f"{url}: sha256 mismatch: expected {expected_sha256}, got {got}")
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        raise DataError(f"{url}: download failed: {e}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def _download_gcs(uri: str, dest: Path) -> None:
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc
    from google.cloud import storage

    bucket_name, _, blob_name = uri[len("gs://") :].partition("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    os.close(fd)
    try:
        storage.Client().bucket(bucket_name).blob(blob_name).download_to_filename(tmp, timeout=60)
        os.replace(tmp, dest)
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
            if dest.is_file() and sha256_file(dest) == ds.sha256.get(name, sha256_file(dest)):
                continue
            uri = f"{source.rstrip('/')}/{name}"
            if source.startswith("gs://"):
                _download_gcs(uri, dest)
            else:
                _download_https(uri, dest, ds.sha256.get(name))
        return local
    folder = Path(source)
    if not folder.is_dir():
        raise DataError(
            f"data.source: folder {folder} not found (expected the four IDX .gz files of {ds.name})"
        )
    return folder
