"""Streaming reader for the IDX format of MNIST and Fashion-MNIST (optionally gzipped).

IDX: a 4-byte magic (two zero bytes, a type code, the number of dimensions), one big-endian
uint32 per dimension, then the data. We accept unsigned bytes (type 0x08) only, as both
datasets use, and check every header field and the data length against what we expect.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from genlab.errors import DataError

UBYTE = 0x08


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_header(f, path: Path, ndim: int) -> tuple[int, ...]:
    head = f.read(4)
    if len(head) < 4:
        raise DataError(f"{path}: truncated IDX file: no header (expected a 4-byte magic number)")
    zero1, zero2, dtype, dims = head
    if zero1 or zero2 or dtype != UBYTE or dims != ndim:
        magic = int.from_bytes(head, "big")
        expected = (UBYTE << 8) | ndim
        raise DataError(
            f"{path}: wrong magic number 0x{magic:08x}; expected 0x{expected:08x} "
            f"(unsigned bytes, {ndim} dimension{'s' if ndim > 1 else ''})"
        )
    raw = f.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise DataError(f"{path}: truncated IDX header: expected {ndim} dimension sizes")
    return struct.unpack(f">{ndim}I", raw)


def iter_idx(path: str | Path, ndim: int, chunk: int = 4096) -> Iterator[np.ndarray]:
    """Yield uint8 arrays of up to ``chunk`` records; the header's shape is checked as we go.

    Memory stays bounded by ``chunk`` records whatever the file size.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with _open(path) as f:
            shape = read_header(f, path, ndim)
            count, record_shape = shape[0], shape[1:]
            record_size = int(np.prod(record_shape, dtype=np.int64)) if record_shape else 1
            done = 0
            while done < count:
                n = min(chunk, count - done)
                data = f.read(n * record_size)
                if len(data) < n * record_size:
                    got = done + len(data) // record_size
                    raise DataError(
                        f"{path}: truncated IDX data: header says {count} records, file holds {got}"
                    )
                yield np.frombuffer(data, np.uint8).reshape((n, *record_shape))
                done += n
            if f.read(1):
                raise DataError(f"{path}: trailing bytes after the {count} records the header declares")
    except (OSError, EOFError, zlib.error) as e:  # gzip: bad CRC, truncated stream, not gzip
        raise DataError(f"{path}: corrupt file: {e}") from None


def idx_count(path: str | Path, ndim: int) -> tuple[int, ...]:
    """The header's shape (count first) without reading the data."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with _open(path) as f:
            return read_header(f, path, ndim)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: corrupt file: {e}") from None


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as IDX (gzipped if the name ends in .gz). For tests and tools."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())
