"""A dataset folder from a local folder, a local or https ``.zip`` (sha256-checked), or ``gs://``.

Image-to-image datasets ship as zip archives of folders (the CycleGAN and pix2pix datasets: one
top folder holding ``trainA/ trainB/ testA/ testB/`` or ``train/ test/``). An archive is downloaded
to the cache under a temporary name (``genlab.data.sources``), checked against its sha256, and
extracted into a temporary folder that is renamed into place only when whole, so an interrupted run
never leaves a half-extracted dataset that looks complete. Extraction streams member by member
(bounded memory) and refuses members that would land outside the target folder.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path

from genlab.errors import DataError


def _cache_root() -> Path:
    from genlab.data.sources import cache_dir

    return cache_dir() / "datasets"


def extract(archive: Path, dest: Path) -> Path:
    """Unpack a .zip or tar archive once into ``dest`` (atomic: a temp folder renamed into place)."""
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                for member in z.infolist():  # streamed member by member; none may land outside
                    target = (staging / member.filename).resolve()
                    if not target.is_relative_to(staging.resolve()):
                        raise DataError(f"{archive}: member {member.filename!r} points outside the archive")
                    z.extract(member, staging)
        else:
            with tarfile.open(archive) as t:
                t.extractall(staging, filter="data")  # PEP 706: no links out, no absolute paths
        staging.rename(dest)
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as e:
        raise DataError(f"{archive}: not a readable archive: {e}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _download(url: str, dest: Path, sha256: str) -> None:
    """The shared https downloader: retried, atomic, renamed only if the archive's sha256 matches."""
    from genlab.data.sources import _download_https

    _download_https(url, dest, sha256)


def _copy_gcs_file(uri: str, dest: Path) -> None:
    """Download one ``gs://`` object to ``dest`` under a temporary name, then rename it."""
    import tensorflow as tf

    from genlab import io

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    os.close(fd)
    try:
        with io.storage_errors(uri):
            tf.io.gfile.copy(uri, tmp, overwrite=True)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _copy_gcs_folder(uri: str, dest: Path) -> None:
    """Copy a ``gs://`` folder of images to ``dest`` one file at a time (atomic like ``extract``).

    Copied afresh on every preparation: a bucket folder may change, unlike a checksummed archive."""
    import tensorflow as tf

    from genlab import io

    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with io.storage_errors(uri):
            for folder, _, files in tf.io.gfile.walk(uri):
                rel = folder[len(uri.rstrip("/")) :].strip("/")
                (staging / rel).mkdir(parents=True, exist_ok=True)
                for name in files:
                    tf.io.gfile.copy(
                        f"{folder.rstrip('/')}/{name}", str(staging / rel / name), overwrite=True
                    )
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def find_root(folder: Path, marker: tuple[str, ...], layout: str = "") -> Path:
    """``folder`` or its single subfolder, whichever holds the ``marker`` subfolders (archives often
    wrap the dataset in one top folder, e.g. ``horse2zebra/trainA``)."""
    if all((folder / m).is_dir() for m in marker):
        return folder
    subs = [d for d in folder.iterdir() if d.is_dir() and not d.name.startswith((".", "__MACOSX"))]
    if len(subs) == 1 and all((subs[0] / m).is_dir() for m in marker):
        return subs[0]
    raise DataError(
        f"data.source: {folder} has no {', '.join(m + '/' for m in marker)} subfolders "
        f"(looked in it and in its single top folder){'; expected ' + layout if layout else ''}"
    )


def local_folder(source: str, sha256: str, marker: tuple[str, ...], layout: str = "") -> Path:
    """The local folder holding the ``marker`` subfolders, fetching and extracting as needed."""
    from genlab.data.sources import sha256_file

    if not source:
        raise DataError("data.source: required: a folder, a .zip file, an https:// archive or a gs:// path")
    if source.startswith(("https://", "http://")):
        if not sha256:
            raise DataError(
                f"data.sha256: required for the https archive {source} (its sha256, so a changed or "
                f"broken download is refused)"
            )
        archive = _cache_root() / f"{sha256[:16]}.zip"
        if not (archive.is_file() and sha256_file(archive) == sha256):
            _download(source, archive, sha256)
        return find_root(_extract_to_cache(archive, sha256), marker, layout)
    if source.startswith("gs://"):
        key = source.rstrip("/").rsplit("/", 1)[-1]
        if source.endswith(".zip"):
            archive = _cache_root() / "gcs" / key
            _copy_gcs_file(source, archive)
            if sha256 and sha256_file(archive) != sha256:
                raise DataError(f"{source}: sha256 mismatch: expected {sha256}, got {sha256_file(archive)}")
            return find_root(_extract_to_cache(archive, sha256_file(archive)), marker, layout)
        dest = _cache_root() / "gcs" / "folders" / source[len("gs://") :].rstrip("/").replace("/", "__")
        _copy_gcs_folder(source, dest)
        return find_root(dest, marker, layout)
    path = Path(source)
    if path.is_file() and path.suffix == ".zip":
        digest = sha256_file(path)
        if sha256 and digest != sha256:
            raise DataError(f"{path}: sha256 mismatch: expected {sha256}, got {digest}")
        return find_root(_extract_to_cache(path, digest), marker, layout)
    if not path.is_dir():
        raise DataError(f"data.source: {source} not found (expected a folder or a .zip archive)")
    return find_root(path, marker, layout)


def _extract_to_cache(archive: Path, digest: str) -> Path:
    dest = _cache_root() / "extracted" / digest[:16]
    extract(archive, dest)
    return dest
