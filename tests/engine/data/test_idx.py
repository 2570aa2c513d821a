"""IDX reading: round trips, and one-line UserErrors naming the file and the problem for every kind of bad file."""

import gzip

import numpy as np
import pytest

from engine.data.idx import read_idx, write_idx
from engine.errors import UserError


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, size=(50, 28, 28), dtype=np.uint8)


def _one_line(e: pytest.ExceptionInfo) -> str:
    message = str(e.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("name", ["x-idx3-ubyte.gz", "x-idx3-ubyte"])
def test_round_trip_gz_and_raw(tmp_path, images, name):
    path = tmp_path / name
    write_idx(path, images)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    out = read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (50, 28, 28)
    np.testing.assert_array_equal(out, images)
    out[0, 0, 0] = 1  # callers get an ordinary writable array


def test_raw_header_layout(tmp_path):
    path = tmp_path / "labels"
    write_idx(path, np.array([3, 1, 4], dtype=np.uint8))
    assert path.read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 3, 1, 4])


def test_gunzipped_file_named_gz_still_reads(tmp_path, images):
    # Users who gunzip but keep the name, or tools that store decompressed copies: detect gzip by content.
    raw = tmp_path / "raw"
    write_idx(raw, images)
    renamed = tmp_path / "x.gz"
    renamed.write_bytes(raw.read_bytes())
    np.testing.assert_array_equal(read_idx(renamed), images)


def test_missing_file(tmp_path):
    with pytest.raises(UserError) as e:
        read_idx(tmp_path / "nope.gz")
    assert f"{tmp_path / 'nope.gz'} does not exist" in _one_line(e)


def test_truncated_gz_names_expected_and_found(tmp_path, images):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(path, images)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError) as e:
        read_idx(path, remedy="reinstall the package")
    message = _one_line(e)
    assert str(path) in message
    assert "is truncated (expected 39200 bytes of data for shape (50, 28, 28), found " in message
    assert message.endswith("; reinstall the package")


def test_gz_cut_inside_header(tmp_path, images):
    path = tmp_path / "x.gz"
    write_idx(path, images)
    path.write_bytes(path.read_bytes()[:12])
    with pytest.raises(UserError) as e:
        read_idx(path)
    assert f"{path} is truncated" in _one_line(e)


def test_corrupt_gz(tmp_path, images):
    path = tmp_path / "x.gz"
    write_idx(path, images)
    data = bytearray(path.read_bytes())
    data[20:40] = b"\xff" * 20  # inside the deflate stream
    path.write_bytes(bytes(data))
    with pytest.raises(UserError) as e:
        read_idx(path)
    message = _one_line(e)
    assert str(path) in message and "corrupt gzip" in message


@pytest.mark.parametrize(
    "header, problem",
    [
        (bytes([1, 0, 8, 3]), "bad magic number 0x01000803"),
        (bytes([0, 0, 0x0D, 3]), "dtype code 0x0d; only 0x08 (uint8)"),
        (bytes([0, 0, 8, 0]), "0 dims"),
    ],
)
def test_bad_magic(tmp_path, header, problem):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(header + b"\x00" * 64)
    with pytest.raises(UserError) as e:
        read_idx(path)
    message = _one_line(e)
    assert str(path) in message and problem in message


def test_file_shorter_than_magic(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(bytes([0, 0, 8]))
    with pytest.raises(UserError) as e:
        read_idx(path)
    assert f"{path} is too short to be an IDX file (3 bytes)" in _one_line(e)


def test_header_truncated_inside_dims(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 50]))
    with pytest.raises(UserError) as e:
        read_idx(path)
    assert "truncated inside its header (needs 16 bytes for 3 dims, found 8)" in _one_line(e)


@pytest.mark.parametrize("gz", [False, True])
def test_payload_shorter_than_dims(tmp_path, images, gz):
    path = tmp_path / ("x.gz" if gz else "x")
    raw = bytes([0, 0, 8, 3, 0, 0, 0, 50, 0, 0, 0, 28, 0, 0, 0, 28]) + images.tobytes()[:1000]
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(UserError) as e:
        read_idx(path)
    assert f"{path} is truncated (expected 39200 bytes of data for shape (50, 28, 28), found 1000)" in _one_line(e)


def test_payload_longer_than_dims(tmp_path, images):
    path = tmp_path / "x"
    write_idx(path, images)
    path.write_bytes(path.read_bytes() + b"\x00" * 7)
    with pytest.raises(UserError) as e:
        read_idx(path)
    message = _one_line(e)
    assert str(path) in message and "7 bytes more than its header's shape (50, 28, 28) needs (39200)" in message


def test_write_rejects_non_uint8(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_idx(tmp_path / "x", np.zeros((2, 2), dtype=np.float32))
