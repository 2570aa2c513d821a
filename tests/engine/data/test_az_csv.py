"""A-Z handwritten csv: exact parsing, row-level validation, the deterministic split, and the .npz cache."""

import os
from pathlib import Path

import numpy as np
import pytest

from engine.data import az_csv
from engine.data.registry import DATASETS
from engine.errors import UserError


@pytest.fixture(autouse=True)
def hermetic(tmp_path, monkeypatch):
    """No test sees the real home or GAN_DATA_DIR."""
    monkeypatch.delenv("GAN_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def make_rows(n: int = 60, seed: int = 0) -> np.ndarray:
    """[n, 785] ints: label 0..25 then 784 pixels covering 1-, 2- and 3-digit values."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(n, 784))
    pixels[rng.random((n, 784)) < 0.7] = 0
    return np.concatenate([np.arange(n)[:, None] % 26, pixels], axis=1)


def write_csv(path: Path, rows, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, np.asarray(rows), fmt="%d", delimiter=",", newline=newline)
    return path


def _message(e: pytest.ExceptionInfo) -> str:
    message = str(e.value)
    assert "\n" not in message
    return message


def test_registered():
    assert DATASETS.get_or_fail("az_csv") is az_csv.load


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_parse_is_exact(tmp_path, newline):
    rows = make_rows()
    rows[0, 1:4] = [255, 7, 10]
    path = write_csv(tmp_path / az_csv.CSV_NAME, rows, newline)
    labels, pixels = az_csv.parse_csv(path)
    assert labels.dtype == pixels.dtype == np.uint8 and pixels.shape == (60, 784)
    np.testing.assert_array_equal(labels, rows[:, 0])
    np.testing.assert_array_equal(pixels, rows[:, 1:])
    assert list(pixels[0, :3]) == [255, 7, 10]


def test_parse_across_chunks_and_without_final_newline(tmp_path, monkeypatch):
    monkeypatch.setattr(az_csv, "_CHUNK_BYTES", 5000)  # a few rows a chunk
    rows = make_rows(40)
    path = write_csv(tmp_path / "a.csv", rows)
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    labels, pixels = az_csv.parse_csv(path)
    np.testing.assert_array_equal(pixels, rows[:, 1:])
    np.testing.assert_array_equal(labels, rows[:, 0])


def test_load_split_sizes_disjoint_and_deterministic(tmp_path):
    rows = make_rows(100)
    rows[:, 1] = np.arange(100)  # a row id in the first pixel
    write_csv(tmp_path / "d" / az_csv.CSV_NAME, rows)
    train = az_csv.load("train", data_dir=str(tmp_path / "d"))
    test = az_csv.load("test", data_dir=tmp_path / "d", image_shape=(28, 28, 1))
    assert train.images.shape == (90, 28, 28, 1) and test.images.shape == (10, 28, 28, 1)
    assert train.images.dtype == np.uint8 and train.labels.dtype == np.int32
    train_ids, test_ids = train.images[:, 0, 0, 0], test.images[:, 0, 0, 0]
    assert not set(train_ids) & set(test_ids) and len(set(train_ids) | set(test_ids)) == 100
    np.testing.assert_array_equal(train.labels, rows[train_ids, 0])
    np.testing.assert_array_equal(train.images[:, :, :, 0].reshape(90, 784), rows[train_ids, 1:])
    np.testing.assert_array_equal(test_ids, az_csv.split_indices(100, "test"))
    assert train.class_names == tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert test.source == f"{tmp_path / 'd' / az_csv.CSV_NAME} (az_csv test)"


def test_wrong_column_count_names_the_row(tmp_path, monkeypatch):
    monkeypatch.setattr(az_csv, "_CHUNK_BYTES", 5000)  # the bad row is in a later chunk
    path = write_csv(tmp_path / "a.csv", make_rows(30))
    lines = path.read_text().splitlines()
    lines[16] = lines[16].rsplit(",", 1)[0]  # row 17: 784 columns
    lines[20] = ""
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError) as e:
        az_csv.parse_csv(path)
    assert _message(e).startswith(f"{path} row 17 has 784 columns, expected 785 (label + 784 pixels); ")


def test_bad_label_names_the_first_row(tmp_path):
    rows = make_rows(30)
    rows[[4, 9], 0] = [26, 99]
    path = write_csv(tmp_path / "a.csv", rows)
    with pytest.raises(UserError) as e:
        az_csv.parse_csv(path)
    assert _message(e).startswith(f"{path} row 5 has label 26, outside 0..25 (2 such rows); ")


@pytest.mark.parametrize(
    "field, expected",
    [("256", "'256'"), ("1.5", "'1.5'"), ("-1", "'-1'"), ("", "''"), ("0000", "'0000'"), ("x", "'x'")],
)
def test_bad_pixel_names_row_and_column(tmp_path, field, expected):
    path = write_csv(tmp_path / "a.csv", make_rows(10))
    lines = path.read_text().splitlines()
    cells = lines[6].split(",")
    cells[3] = field
    lines[6] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError) as e:
        az_csv.parse_csv(path)
    assert _message(e).startswith(f"{path} row 7 column 4 is {expected}, not an integer 0..255; ")


def test_header_row_is_called_out(tmp_path):
    path = tmp_path / "a.csv"
    rows = make_rows(3)
    path.write_text("label," + ",".join(f"p{i}" for i in range(784)) + "\n")
    with open(path, "a") as f:
        np.savetxt(f, rows, fmt="%d", delimiter=",")
    with pytest.raises(
        UserError,
        match=r"row 1 column 1 is 'label', not an integer 0..255 \(the file must have no "
        r"header row\)",
    ):
        az_csv.parse_csv(path)


def test_empty_file(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("\n")
    with pytest.raises(UserError, match=r"a.csv is empty; "):
        az_csv.parse_csv(path)


def test_cache_is_reused_then_invalidated_when_the_csv_changes(tmp_path, monkeypatch):
    path = write_csv(tmp_path / "d" / az_csv.CSV_NAME, make_rows(20))
    first = az_csv.load("train", data_dir=tmp_path / "d")
    assert az_csv.cache_path(path).is_file()
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == [az_csv.CSV_NAME, az_csv.CSV_NAME + ".npz"]

    real_parse = az_csv.parse_csv

    def must_not_parse(p):
        raise AssertionError("parsed again despite a current cache")

    monkeypatch.setattr(az_csv, "parse_csv", must_not_parse)
    again = az_csv.load("train", data_dir=tmp_path / "d")
    np.testing.assert_array_equal(again.images, first.images)

    rows = make_rows(20, seed=1)
    write_csv(path, rows)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, az_csv.cache_path(path).stat().st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="parsed again"):
        az_csv.load("train", data_dir=tmp_path / "d")
    monkeypatch.setattr(az_csv, "parse_csv", real_parse)
    changed = az_csv.load("test", data_dir=tmp_path / "d")
    np.testing.assert_array_equal(changed.labels, rows[az_csv.split_indices(20, "test"), 0])


def test_damaged_cache_is_ignored_and_rewritten(tmp_path):
    path = write_csv(tmp_path / "a.csv", make_rows(20))
    az_csv.cache_path(path).write_bytes(b"not an npz")
    os.utime(az_csv.cache_path(path), ns=(0, path.stat().st_mtime_ns + 10**9))
    labels, _ = az_csv.read_cached(path)
    assert len(labels) == 20
    with np.load(az_csv.cache_path(path)) as z:
        assert len(z["labels"]) == 20


def test_any_single_csv_is_accepted_except_in_the_shared_root(tmp_path, monkeypatch):
    write_csv(tmp_path / "d" / "letters.csv", make_rows(20))
    assert az_csv.find_csv(tmp_path / "d") == tmp_path / "d" / "letters.csv"
    write_csv(tmp_path / "d" / "other.csv", make_rows(20))
    with pytest.raises(UserError) as e:
        az_csv.find_csv(tmp_path / "d")
    assert "has no 'A_Z Handwritten Data.csv' (it has 2 .csv files: letters.csv, other.csv; keep only one)" in (
        _message(e)
    )
    write_csv(tmp_path / "env" / "unrelated.csv", make_rows(20))
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(UserError, match="not found in"):
        az_csv.find_csv()


def test_search_order(tmp_path, monkeypatch):
    env = tmp_path / "env"
    places = [env / "az_csv", env, tmp_path / "home/.keras/datasets/az_csv"]
    monkeypatch.setenv("GAN_DATA_DIR", str(env))
    assert az_csv.candidate_dirs() == places
    assert az_csv.candidate_dirs(tmp_path / "x") == [tmp_path / "x"]
    for d in places:
        write_csv(d / az_csv.CSV_NAME, make_rows(3))
    for d in places:
        assert az_csv.find_csv() == d / az_csv.CSV_NAME
        (d / az_csv.CSV_NAME).unlink()


def test_not_found_says_where_to_get_it(tmp_path):
    with pytest.raises(UserError) as e:
        az_csv.load()
    message = _message(e)
    assert message.startswith(f"az_csv file 'A_Z Handwritten Data.csv' not found in {tmp_path}/home/.keras/")
    assert "(GAN_DATA_DIR is not set)" in message and "--data-dir DIR" in message
    assert "https://www.kaggle.com/datasets/sachinpatel21/az-handwritten-alphabets-in-csv-format" in message
    with pytest.raises(UserError, match=r"^--data-dir .*nowhere does not exist; check the path, or download"):
        az_csv.load(data_dir=tmp_path / "nowhere")


def test_unknown_split(tmp_path):
    with pytest.raises(UserError, match=r"^unknown split 'val' for az_csv; valid: train, test$"):
        az_csv.load("val", data_dir=tmp_path)
