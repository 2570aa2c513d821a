"""EMNIST Letters: search order, labels 1..26 -> 0..25, upright images, and one-line errors."""

from pathlib import Path

import numpy as np
import pytest

from engine.data import emnist
from engine.data.idx import write_idx
from engine.data.registry import DATASETS
from engine.errors import UserError


@pytest.fixture(autouse=True)
def hermetic(tmp_path, monkeypatch):
    """No test sees the real home or GAN_DATA_DIR."""
    monkeypatch.delenv("GAN_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def write_split(directory: Path, split: str = "train", stored=None, labels=None):
    """Writes the split's two IDX files; `stored` are the images as in the file (transposed). Returns them."""
    directory.mkdir(parents=True, exist_ok=True)
    if stored is None:
        stored = np.random.default_rng(0).integers(0, 256, size=(52, 28, 28), dtype=np.uint8)
    if labels is None:
        labels = np.arange(len(stored)) % 26 + 1
    images_file, labels_file = emnist.SPLITS[split]
    write_idx(directory / images_file, np.asarray(stored, dtype=np.uint8))
    write_idx(directory / labels_file, np.asarray(labels, dtype=np.uint8))
    return stored, labels


def _message(e: pytest.ExceptionInfo) -> str:
    message = str(e.value)
    assert "\n" not in message
    return message


def test_registered():
    assert DATASETS.get_or_fail("emnist_letters") is emnist.load


@pytest.mark.parametrize("split", ["train", "test"])
def test_labels_are_shifted_to_zero_based(tmp_path, split):
    _, labels = write_split(tmp_path / "d", split)
    data = emnist.load(split, data_dir=str(tmp_path / "d"), image_shape=(28, 28, 1))
    assert data.images.shape == (52, 28, 28, 1) and data.images.dtype == np.uint8
    assert data.labels.dtype == np.int32
    np.testing.assert_array_equal(data.labels, labels - 1)
    assert data.labels.min() == 0 and data.labels.max() == 25
    assert data.class_names == tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ") and data.num_classes == 26
    assert data.source == f"{tmp_path / 'd'} (emnist_letters {split})"


def test_stored_transposed_images_load_upright(tmp_path):
    upright = np.zeros((1, 28, 28), dtype=np.uint8)
    upright[0, 3, 5:20] = 255  # a horizontal bar in row 3
    write_split(tmp_path / "d", stored=upright.transpose(0, 2, 1), labels=[1])  # stored: a vertical bar
    image = emnist.load(data_dir=tmp_path / "d").images[0, :, :, 0]
    assert image.flags.c_contiguous
    np.testing.assert_array_equal(np.flatnonzero(image.any(axis=1)), [3])  # only row 3 is lit
    np.testing.assert_array_equal(np.flatnonzero(image[3]), np.arange(5, 20))


@pytest.mark.parametrize("bad", [0, 27])
def test_label_out_of_range_names_file_and_first_index(tmp_path, bad):
    labels = np.full(52, 5)
    labels[[9, 30]] = [bad, 200]
    write_split(tmp_path / "d", labels=labels)
    with pytest.raises(UserError) as e:
        emnist.load(data_dir=tmp_path / "d")
    labels_file = tmp_path / "d" / "emnist-letters-train-labels-idx1-ubyte.gz"
    assert _message(e).startswith(f"{labels_file} has 2 labels outside 1..26 (first: {bad} at index 9); ")


def test_count_mismatch_names_both_files(tmp_path):
    write_split(tmp_path / "d", labels=np.ones(51))
    with pytest.raises(
        UserError,
        match=r"labels-idx1-ubyte.gz holds labels of shape \(51,\) but .*images-idx3-"
        r"ubyte.gz has 52 images",
    ):
        emnist.load(data_dir=tmp_path / "d")


def test_gunzipped_files_are_found(tmp_path):
    write_split(tmp_path / "d", "test")
    for f in (tmp_path / "d").iterdir():
        f.rename(f.with_suffix(""))
    assert len(emnist.load("test", data_dir=tmp_path / "d").images) == 52


def test_search_order(tmp_path, monkeypatch):
    env = tmp_path / "env"
    places = [env / "emnist_letters", env / "emnist", env, tmp_path / "home/.keras/datasets/emnist"]
    monkeypatch.setenv("GAN_DATA_DIR", str(env))
    assert emnist.candidate_dirs() == places
    assert emnist.candidate_dirs(tmp_path / "x") == [tmp_path / "x"]
    for d in places:
        write_split(d)
    for d in places:
        assert emnist.load().source.startswith(f"{d} (")
        for f in d.glob("emnist-*"):
            f.unlink()


def test_explicit_data_dir_lacking_files_does_not_fall_through(tmp_path, monkeypatch):
    write_split(tmp_path / "home/.keras/datasets/emnist")  # would be found if the search fell through
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError) as e:
        emnist.load(data_dir=tmp_path / "empty")
    message = _message(e)
    assert message.startswith(f"--data-dir {tmp_path / 'empty'} lacks the emnist_letters train files (")
    assert "emnist-letters-train-images-idx3-ubyte.gz, emnist-letters-train-labels-idx1-ubyte.gz" in message
    with pytest.raises(UserError, match=r"--data-dir .*nowhere does not exist; check the path, or download"):
        emnist.load(data_dir=tmp_path / "nowhere")


def test_not_found_names_every_place_and_where_to_get_the_files(tmp_path, monkeypatch):
    with pytest.raises(UserError) as e:
        emnist.load("test")
    message = _message(e)
    assert str(tmp_path / "home/.keras/datasets/emnist") in message
    assert "(GAN_DATA_DIR is not set)" in message
    assert "emnist-letters-test-images-idx3-ubyte.gz" in message
    assert message.endswith(
        "download the 'gzip' archive from https://www.nist.gov/itl/products-and-services/emnist-dataset, unpack "
        "the emnist-letters-* files into one of those directories or pass --data-dir"
    )


def test_unknown_split(tmp_path):
    with pytest.raises(UserError, match=r"^unknown split 'val' for emnist_letters; valid: train, test$"):
        emnist.load("val", data_dir=tmp_path)
