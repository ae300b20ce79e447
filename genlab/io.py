"""File helpers that work for local paths and ``gs://`` URIs alike (through ``tf.io.gfile``).

Writes are atomic: a local file is written to a temporary name in the same folder and renamed;
a GCS object appears whole when its upload finishes. Readers treat a dataset or model as
complete only when its marker file (manifest / ``model.json``) exists, and that is written last.
TensorFlow is imported on first use, so ``is_remote`` and ``join`` serve the launchers and
``genlab train``'s parent process without loading it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from genlab.errors import DataError


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def is_remote(uri: str) -> bool:
    return "://" in uri


def join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *parts]) if is_remote(uri) else str(Path(uri, *parts))


@contextlib.contextmanager
def storage_errors(uri: str):
    """A ``gs://`` (or other remote) path that cannot be reached is a DataError naming it, not a traceback."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.OpError as e:
        if not is_remote(uri):
            raise
        reason = (e.message or type(e).__name__).strip().splitlines()[0]
        raise DataError(
            f"{uri}: cannot access it ({reason}); check the bucket name, the network, and that "
            "credentials are available (Workload Identity or application default "
            "credentials)"
        ) from None


def exists(uri: str) -> bool:
    with storage_errors(uri):
        return _gfile().exists(uri)


def makedirs(uri: str) -> None:
    with storage_errors(uri):
        _gfile().makedirs(uri)


def write_bytes(uri: str, data: bytes) -> None:
    """Write ``data`` so that readers see the old file or the whole new one, never a part."""
    if is_remote(uri):
        with storage_errors(uri), _gfile().GFile(uri, "wb") as f:
            f.write(data)
        return
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(uri: str, text: str) -> None:
    write_bytes(uri, text.encode())


def write_json(uri: str, obj) -> None:
    write_text(uri, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_bytes(uri: str) -> bytes:
    with storage_errors(uri), _gfile().GFile(uri, "rb") as f:
        return f.read()


def read_json(uri: str):
    return json.loads(read_bytes(uri))
