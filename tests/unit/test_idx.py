import gzip
import re
import struct

import numpy as np
import pytest

from genlab.data.idx import idx_count, iter_idx, write_idx
from genlab.errors import DataError


def test_round_trip_in_chunks(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (10, 5, 4), dtype=np.uint8)
    path = tmp_path / "x-images-idx3-ubyte.gz"
    write_idx(path, images)
    assert idx_count(path, 3) == (10, 5, 4)
    chunks = list(iter_idx(path, 3, chunk=3))
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    np.testing.assert_array_equal(np.concatenate(chunks), images)


def test_plain_uncompressed_file(tmp_path):
    labels = np.arange(7, dtype=np.uint8)
    write_idx(tmp_path / "labels-idx1-ubyte", labels)
    np.testing.assert_array_equal(np.concatenate(list(iter_idx(tmp_path / "labels-idx1-ubyte", 1))), labels)


def test_wrong_magic_names_file_and_expected_value(tmp_path):
    path = tmp_path / "labels.gz"
    write_idx(path, np.zeros(4, np.uint8))
    with pytest.raises(DataError, match=r"labels.gz: wrong magic number 0x00000801; expected 0x00000803"):
        idx_count(path, 3)  # a label file where an image file was expected


def test_truncated_data(tmp_path):
    path = tmp_path / "t.gz"
    header = bytes([0, 0, 8, 3]) + struct.pack(">3I", 5, 2, 2)
    with gzip.open(path, "wb") as f:
        f.write(header + bytes(2 * 2 * 3))  # 3 of 5 images
    with pytest.raises(DataError, match=r"t.gz: truncated IDX data: header says 5 records, file holds 3"):
        list(iter_idx(path, 3))


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "cut.gz"
    write_idx(path, np.zeros((100, 28, 28), np.uint8) + 7)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=r"cut.gz: (corrupt file|truncated)"):
        list(iter_idx(path, 3))


def test_not_gzip_at_all(tmp_path):
    path = tmp_path / "garbage.gz"
    path.write_bytes(b"this is not gzip data at all")
    with pytest.raises(DataError, match=r"garbage.gz: corrupt file"):
        idx_count(path, 1)


def test_empty_file_and_missing_file(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty: truncated IDX file: no header"):
        idx_count(path, 1)
    with pytest.raises(DataError, match="nothing.gz: file not found"):
        list(iter_idx(tmp_path / "nothing.gz", 1))
    with pytest.raises(DataError, match="nothing.gz: file not found"):
        idx_count(tmp_path / "nothing.gz", 1)


def test_trailing_bytes(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 2) + b"\x01\x02\x03")
    with pytest.raises(DataError, match="trailing bytes after the 2 records"):
        list(iter_idx(path, 1))


@pytest.mark.parametrize(
    "magic",
    [bytes([1, 0, 8, 3]), bytes([0, 1, 8, 3]), bytes([0, 0, 0x0D, 3])],  # each header byte on its own
    ids=["first-zero-byte", "second-zero-byte", "float-type"],
)
def test_every_magic_byte_is_checked(tmp_path, magic):
    path = tmp_path / "x"
    path.write_bytes(magic + struct.pack(">3I", 1, 1, 1) + b"\x00")
    expected = f"wrong magic number 0x{magic.hex()}; expected 0x00000803 (unsigned bytes, 3 dimensions)"
    with pytest.raises(DataError, match=re.escape(expected)):
        idx_count(path, 3)


def test_magic_message_names_one_dimension_in_the_singular(tmp_path):
    path = tmp_path / "images"
    write_idx(path, np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(
        DataError, match=r"images: wrong magic .* expected 0x00000801 \(unsigned bytes, 1 dimension\)$"
    ):
        list(iter_idx(path, 1))


def test_magic_message_names_two_dimensions_in_the_plural(tmp_path):
    path = tmp_path / "labels"
    write_idx(path, np.zeros(3, np.uint8))
    with pytest.raises(DataError, match=r"expected 0x00000802 \(unsigned bytes, 2 dimensions\)$"):
        idx_count(path, 2)


def test_truncated_dimension_sizes(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">2I", 5, 2) + b"\x00\x00\x00")  # 11 of 12 bytes
    with pytest.raises(DataError, match=r"short: truncated IDX header: expected 3 dimension sizes"):
        idx_count(path, 3)
    path.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">3I", 0, 2, 2))  # 12 bytes: whole, no records
    assert idx_count(path, 3) == (0, 2, 2) and list(iter_idx(path, 3)) == []


def test_default_chunks_hold_4096_records(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    write_idx(path, np.arange(4097) % 256)  # any integer array is written as uint8
    chunks = list(iter_idx(path, 1))
    assert [len(c) for c in chunks] == [4096, 1]
    assert chunks[0].dtype == np.uint8 and chunks[1][0] == 4096 % 256


def test_truncation_in_a_later_chunk_counts_the_records_read(tmp_path):
    path = tmp_path / "t"
    path.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">3I", 7, 2, 2) + bytes(4 * 5 + 3))  # 5 whole records
    with pytest.raises(DataError, match=r"header says 7 records, file holds 5$"):
        list(iter_idx(path, 3, chunk=2))
