"""MNIST and Fashion-MNIST from their four standard IDX files, found locally or downloaded with Keras.

Where the files are looked for, first directory holding both files of the split wins:
  1. `data_dir` (`--data-dir`), exclusively: if given and it lacks the files, that is an error;
  2. `$GAN_DATA_DIR/<name>`, then `$GAN_DATA_DIR` itself;
  3. `~/.keras/datasets/<name>` (Keras's cache);
  4. `/usr/share/datasets/<name>` (Debian's `dataset-fashion-mnist` package);
  5. a download into `~/.keras/datasets/<name>` with `keras.utils.get_file`.
Steps 2-4 also try `<name>` with `_` replaced by `-`: Debian and Keras's own fashion_mnist loader both use
`fashion-mnist`.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.data import ImageData, places, register
from engine.data.idx import find_idx_file, read_idx
from engine.errors import UserError

SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
ALL_FILES = tuple(f for pair in SPLITS.values() for f in pair)
IMAGE_SHAPE = (28, 28)
# Module-level so tests can point it at a temporary directory.
SYSTEM_DATASETS_DIR = Path("/usr/share/datasets")


@dataclass(frozen=True)
class IdxDataset:
    """What differs between MNIST-style datasets: where to download them and how to name their classes."""

    name: str
    origin: str
    class_names: tuple[str, ...]
    apt_package: str | None = None


MNIST = IdxDataset(
    name="mnist",
    origin="https://storage.googleapis.com/cvdf-datasets/mnist/",
    class_names=tuple(str(d) for d in range(10)),
)
FASHION_MNIST = IdxDataset(
    name="fashion_mnist",
    origin="https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
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
    apt_package="dataset-fashion-mnist",
)


@register(
    "mnist",
    "MNIST (handwritten digits 0-9, 28x28 grayscale; LeCun, Cortes and Burges)",
)
def load_mnist(split: str = "train", data_dir: str | None = None, image_shape=None) -> ImageData:
    """Loads an MNIST split: images [N, 28, 28, 1] uint8, labels int32 0..9. See `load` for Args/Raises."""
    return load(MNIST, split, data_dir)


@register(
    "fashion_mnist",
    "Fashion-MNIST (Zalando Research; 60,000 training images of 10 kinds of clothing, 28x28 grayscale; MIT licence)",
)
def load_fashion_mnist(split: str = "train", data_dir: str | None = None, image_shape=None) -> ImageData:
    """Loads a Fashion-MNIST split: images [N, 28, 28, 1] uint8, labels int32 0..9. See `load` for Args/Raises."""
    return load(FASHION_MNIST, split, data_dir)


def load(dataset: IdxDataset, split: str = "train", data_dir: str | os.PathLike | None = None) -> ImageData:
    """Finds (or downloads) and reads one split of an MNIST-style dataset.

    Args:
      dataset: which dataset.
      split: "train" or "test".
      data_dir: a directory holding the IDX files; when given, no other place is searched.

    Returns:
      ImageData with images [N, 28, 28, 1] uint8 and labels [N] int32.

    Raises:
      UserError: unknown split; files not found anywhere and the download failed; a file is corrupt; the image and
        label files disagree on N; a label is outside 0..9. One line each.
    """
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r} for {dataset.name}; valid: {', '.join(SPLITS)}")
    directory = find_dir(dataset, split, data_dir)
    images_path, labels_path = (find_idx_file(directory, f) for f in SPLITS[split])
    remedy = _remedy(dataset, directory)
    images = read_idx(images_path, remedy=remedy)
    labels = read_idx(labels_path, remedy=remedy)
    _check(dataset, images_path, images, labels_path, labels, remedy)
    return ImageData(
        images=images[..., np.newaxis],
        labels=labels.astype(np.int32),
        class_names=dataset.class_names,
        source=f"{directory} ({dataset.name} {split})",
    )


def candidate_dirs(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The local directories searched for dataset `name`'s files, in order (the download comes after them); an
    explicit `data_dir` is the only one. The hyphenated name is tried too (Debian's fashion-mnist)."""
    names = list(dict.fromkeys([name, name.replace("_", "-")]))
    return places.candidate_dirs(names, data_dir, system_root=SYSTEM_DATASETS_DIR)


def download(dataset: IdxDataset, filenames: tuple[str, ...]) -> Path:
    """Downloads `filenames` into Keras's cache and returns the directory holding them.

    Module-level so tests can replace it; imports Keras (and so TensorFlow) only when a download is needed.

    Raises:
      Whatever `keras.utils.get_file` raises (`Exception("URL fetch failure ...")`, OSError, ...).
    """
    from keras.utils import get_file

    paths = [
        get_file(
            f,
            origin=dataset.origin + f,
            cache_dir=str(Path.home() / ".keras"),
            cache_subdir=f"datasets/{dataset.name}",
        )
        for f in filenames
    ]
    # get_file falls back to /tmp/.keras when the home cache is not writable, so ask it where the files went.
    return Path(paths[0]).parent


def find_dir(dataset: IdxDataset, split: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Returns the first candidate directory holding both files of `split`, downloading them as a last resort.

    Raises:
      UserError: `data_dir` was given and lacks the files, or nothing local has them and the download failed.
    """
    needed, candidates = SPLITS[split], candidate_dirs(dataset.name, data_dir)
    put, how = f"put the four IDX .gz files ({', '.join(ALL_FILES)})", _how_to_get(dataset)
    found = places.local_dir(candidates, needed, data_dir, f"{dataset.name} {split}", put=put, how_to_get=how)
    if found is not None:
        return found
    try:
        # All four files, so the other split is there next time.
        directory = download(dataset, ALL_FILES)
    except Exception as e:  # get_file wraps urllib errors in a bare Exception
        reason = " ".join(f"{type(e).__name__}: {e}".split())
        raise UserError(
            f"{dataset.name} {split} files ({', '.join(needed)}) not found in {places.looked_in(candidates)}, and "
            f"the download from {dataset.origin} failed ({reason}); {_how_to_get(dataset)}"
        ) from None
    if not all(find_idx_file(directory, f) for f in needed):
        raise UserError(f"downloaded {dataset.name} into {directory} but {', '.join(needed)} are not there")
    return directory


def _how_to_get(dataset: IdxDataset) -> str:
    """The one-line fix for missing files."""
    apt = (
        f"install them with `sudo apt-get install {dataset.apt_package}` (Debian/Ubuntu), or "
        if (dataset.apt_package)
        else ""
    )
    return (
        f"{apt}put the four IDX .gz files ({', '.join(ALL_FILES)}) in a directory and pass --data-dir DIR "
        f"or set GAN_DATA_DIR=DIR"
    )


def _remedy(dataset: IdxDataset, directory: Path) -> str:
    """How to replace a bad file, depending on who put it there."""
    if dataset.apt_package and directory.is_relative_to(SYSTEM_DATASETS_DIR):
        return f"reinstall it with `sudo apt-get install --reinstall {dataset.apt_package}`"
    if directory.is_relative_to(Path.home() / ".keras"):
        return "delete it and run again to re-download it"
    return f"delete it and re-download it from {dataset.origin}"


def _check(
    dataset: IdxDataset, images_path: Path, images: np.ndarray, labels_path: Path, labels: np.ndarray, remedy: str
) -> None:
    """Checks shapes, N agreement and label range, so a mixed-up or damaged file fails here, not mid-training."""
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise UserError(f"{images_path} holds an array of shape {images.shape}, not [N, 28, 28] images; {remedy}")
    if labels.ndim != 1:
        raise UserError(f"{labels_path} holds an array of shape {labels.shape}, not [N] labels; {remedy}")
    if len(images) != len(labels):
        raise UserError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels; "
            f"the two files come from different sets; {remedy}"
        )
    num_classes = len(dataset.class_names)
    bad = np.flatnonzero(labels >= num_classes)
    if bad.size:
        raise UserError(
            f"{labels_path} has {bad.size} labels outside 0..{num_classes - 1} (first: {labels[bad[0]]} at index "
            f"{bad[0]}); {remedy}"
        )
