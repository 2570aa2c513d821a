"""MNIST-style loaders: where files are looked for, what is checked, and the one-line errors when things go wrong."""

from pathlib import Path

import numpy as np
import pytest

from engine.data import mnist
from engine.data.idx import write_idx
from engine.data.registry import DATASETS
from engine.errors import UserError

REAL_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def hermetic(tmp_path, monkeypatch):
    """No test sees the real home, GAN_DATA_DIR, /usr/share or the network unless it asks to."""
    monkeypatch.delenv("GAN_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(mnist, "SYSTEM_DATASETS_DIR", tmp_path / "system")

    def no_network(dataset, filenames):
        raise AssertionError("a test tried to download")

    monkeypatch.setattr(mnist, "download", no_network)


def write_split(directory: Path, split: str = "train", n: int = 50, n_labels: int | None = None, labels=None):
    """Writes a small split with a recognizable first pixel; returns (images, labels)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(directory)))
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    if labels is None:
        labels = np.arange(n_labels if n_labels is not None else n, dtype=np.uint8) % 10
    images_file, labels_file = mnist.SPLITS[split]
    write_idx(directory / images_file, images)
    write_idx(directory / labels_file, np.asarray(labels, dtype=np.uint8))
    return images, labels


def test_registered_names():
    assert DATASETS.get_or_fail("mnist") is mnist.load_mnist
    assert DATASETS.get_or_fail("fashion_mnist") is mnist.load_fashion_mnist


@pytest.mark.parametrize("split", ["train", "test"])
def test_load_from_data_dir(tmp_path, split):
    images, labels = write_split(tmp_path / "d", split)
    data = mnist.load_fashion_mnist(split, data_dir=str(tmp_path / "d"))
    assert data.images.shape == (50, 28, 28, 1) and data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.images[..., 0], images)
    assert data.labels.dtype == np.int32
    np.testing.assert_array_equal(data.labels, labels)
    assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot" and data.num_classes == 10
    assert str(tmp_path / "d") in data.source and split in data.source


def test_mnist_class_names(tmp_path):
    write_split(tmp_path / "d")
    assert mnist.load_mnist(data_dir=tmp_path / "d").class_names == tuple("0123456789")


def test_unknown_split(tmp_path):
    with pytest.raises(UserError, match=r"unknown split 'val' for mnist; valid: train, test"):
        mnist.load_mnist("val", data_dir=tmp_path)


def test_candidate_dirs_order(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path / "env"))
    home, system = tmp_path / "home", tmp_path / "system"
    assert mnist.candidate_dirs("fashion_mnist") == [
        tmp_path / "env" / "fashion_mnist",
        tmp_path / "env" / "fashion-mnist",
        tmp_path / "env",
        home / ".keras/datasets/fashion_mnist",
        home / ".keras/datasets/fashion-mnist",
        system / "fashion_mnist",
        system / "fashion-mnist",
    ]
    # No hyphen variant when the name has no underscore; an explicit dir is the only candidate.
    assert mnist.candidate_dirs("mnist")[-1] == system / "mnist"
    assert mnist.candidate_dirs("mnist", tmp_path / "x") == [tmp_path / "x"]


def test_search_order_each_place_beats_the_next(tmp_path, monkeypatch):
    places = {
        "data_dir": tmp_path / "explicit",
        "env": tmp_path / "env" / "fashion_mnist",
        "keras": tmp_path / "home" / ".keras" / "datasets" / "fashion-mnist",  # Keras's own loader's layout
        "system": tmp_path / "system" / "fashion-mnist",  # Debian's layout
    }
    for d in places.values():
        write_split(d)
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path / "env"))
    load = mnist.load_fashion_mnist
    assert load(data_dir=places["data_dir"]).source.startswith(str(places["data_dir"]))
    assert load().source.startswith(str(places["env"]))
    monkeypatch.delenv("GAN_DATA_DIR")
    assert load().source.startswith(str(places["keras"]))
    monkeypatch.setenv("HOME", str(tmp_path / "elsewhere"))
    assert load().source.startswith(str(places["system"]))


def test_gan_data_dir_may_hold_the_files_itself(tmp_path, monkeypatch):
    write_split(tmp_path / "flat")
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path / "flat"))
    assert mnist.load_mnist().source.startswith(str(tmp_path / "flat"))


def test_a_dir_with_only_the_other_split_is_skipped(tmp_path, monkeypatch):
    write_split(tmp_path / "home" / ".keras" / "datasets" / "mnist", "test")
    write_split(tmp_path / "system" / "mnist", "train")
    assert mnist.load_mnist("train").source.startswith(str(tmp_path / "system" / "mnist"))


def test_gunzipped_files_are_found(tmp_path):
    write_split(tmp_path / "d")
    for f in (tmp_path / "d").iterdir():
        f.rename(f.with_suffix(""))
    assert len(mnist.load_mnist(data_dir=tmp_path / "d").images) == 50


def test_explicit_data_dir_without_files_does_not_fall_through(tmp_path, monkeypatch):
    write_split(tmp_path / "system" / "fashion-mnist")  # would be found if the search fell through
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError) as e:
        mnist.load_fashion_mnist(data_dir=tmp_path / "empty")
    message = str(e.value)
    assert "\n" not in message
    assert f"--data-dir {tmp_path / 'empty'} lacks the fashion_mnist train files" in message
    assert "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz" in message


def test_explicit_data_dir_that_does_not_exist(tmp_path):
    expected = r"--data-dir .*nowhere does not exist; check the path, or install them with `sudo apt-get"
    with pytest.raises(UserError, match=expected):
        mnist.load_fashion_mnist(data_dir=tmp_path / "nowhere")


def test_offline_names_every_place_and_the_fixes(tmp_path, monkeypatch):
    def offline(dataset, filenames):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(mnist, "download", offline)
    with pytest.raises(UserError) as e:
        mnist.load_fashion_mnist("test")
    message = str(e.value)
    assert "\n" not in message
    for place in mnist.candidate_dirs("fashion_mnist"):
        assert str(place) in message
    assert "GAN_DATA_DIR is not set" in message
    assert "t10k-images-idx3-ubyte.gz" in message
    assert "OSError: [Errno -3] Temporary failure in name resolution" in message
    assert "https://storage.googleapis.com/tensorflow/tf-keras-datasets/" in message
    assert "`sudo apt-get install dataset-fashion-mnist`" in message
    assert "--data-dir DIR" in message and "GAN_DATA_DIR=DIR" in message


def test_offline_mnist_has_no_apt_hint_and_folds_multiline_reasons(monkeypatch):
    def fails(dataset, filenames):
        raise Exception("URL fetch failure on https://x: None --\n[Errno 101] Network is unreachable")

    monkeypatch.setattr(mnist, "download", fails)
    with pytest.raises(UserError) as e:
        mnist.load_mnist()
    message = str(e.value)
    assert "\n" not in message
    assert "Exception: URL fetch failure on https://x: None -- [Errno 101] Network is unreachable" in message
    assert "apt-get" not in message and "https://storage.googleapis.com/cvdf-datasets/mnist/" in message


def test_download_is_used_last_and_fetches_all_four_files(tmp_path, monkeypatch):
    fetched = []

    def fake_download(dataset, filenames):
        fetched.extend(filenames)
        d = tmp_path / "downloaded"
        write_split(d, "train")
        write_split(d, "test")
        return d

    monkeypatch.setattr(mnist, "download", fake_download)
    data = mnist.load_mnist("test")
    assert sorted(fetched) == sorted(mnist.ALL_FILES)
    assert data.source.startswith(str(tmp_path / "downloaded"))


def test_truncated_file_in_system_dir_says_reinstall(tmp_path):
    d = tmp_path / "system" / "fashion-mnist"
    write_split(d)
    images = d / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:5000])
    with pytest.raises(UserError) as e:
        mnist.load_fashion_mnist()
    message = str(e.value)
    assert f"{images} is truncated (expected 39200 bytes" in message
    assert "sudo apt-get install --reinstall dataset-fashion-mnist" in message


def test_count_mismatch_names_both_files(tmp_path):
    write_split(tmp_path / "d", n=50, n_labels=49)
    with pytest.raises(UserError) as e:
        mnist.load_mnist(data_dir=tmp_path / "d")
    message = str(e.value)
    assert f"{tmp_path / 'd' / 'train-images-idx3-ubyte.gz'} has 50 images" in message
    assert f"{tmp_path / 'd' / 'train-labels-idx1-ubyte.gz'} has 49 labels" in message


def test_label_out_of_range(tmp_path):
    labels = np.zeros(50, dtype=np.uint8)
    labels[[7, 9]] = [10, 255]
    write_split(tmp_path / "d", labels=labels)
    with pytest.raises(UserError) as e:
        mnist.load_mnist(data_dir=tmp_path / "d")
    message = str(e.value)
    assert "train-labels-idx1-ubyte.gz has 2 labels outside 0..9 (first: 10 at index 7)" in message


def test_swapped_files_are_caught_by_shape(tmp_path):
    d = tmp_path / "d"
    write_split(d)
    (d / "train-images-idx3-ubyte.gz").rename(d / "tmp")
    (d / "train-labels-idx1-ubyte.gz").rename(d / "train-images-idx3-ubyte.gz")
    (d / "tmp").rename(d / "train-labels-idx1-ubyte.gz")
    expected = r"train-images-idx3-ubyte.gz holds an array of shape \(50,\), not \[N, 28, 28\]"
    with pytest.raises(UserError, match=expected):
        mnist.load_mnist(data_dir=d)


@pytest.mark.skipif(
    not (REAL_FASHION_MNIST / "t10k-images-idx3-ubyte.gz").exists(),
    reason=f"real Fashion-MNIST not installed at {REAL_FASHION_MNIST} (sudo apt-get install dataset-fashion-mnist)",
)
def test_real_fashion_mnist_test_split_via_default_search(monkeypatch):
    monkeypatch.setattr(mnist, "SYSTEM_DATASETS_DIR", REAL_FASHION_MNIST.parent)
    data = DATASETS.get_or_fail("fashion_mnist")(split="test")
    assert data.source.startswith(str(REAL_FASHION_MNIST))
    assert data.images.shape == (10000, 28, 28, 1) and data.images.dtype == np.uint8
    assert data.num_classes == 10
    np.testing.assert_array_equal(np.bincount(data.labels, minlength=10), np.full(10, 1000))
