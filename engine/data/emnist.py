"""EMNIST Letters from its four IDX files: 28x28 handwritten letters, 26 classes "A".."Z".

NIST ships EMNIST only as one ~560 MB zip of all its splits, so nothing is downloaded here: unpack the
`emnist-letters-*` files yourself. The files store each image column-major (transposed) and the labels as 1..26;
the loader returns upright images and labels 0..25.

Where the files are looked for, first directory holding both files of the split wins:
  1. `data_dir` (`--data-dir`), exclusively: if given and it lacks the files, that is an error;
  2. `$GAN_DATA_DIR/emnist_letters`, `$GAN_DATA_DIR/emnist`, then `$GAN_DATA_DIR` itself;
  3. `~/.keras/datasets/emnist`.
Each file is accepted as shipped (`.gz`) or gunzipped.
"""

import os
from pathlib import Path

import numpy as np

from engine.data import ImageData, places, register
from engine.data.idx import find_idx_file, read_idx
from engine.errors import UserError

NAME = "emnist_letters"
SPLITS = {
    split: (f"emnist-letters-{split}-images-idx3-ubyte.gz", f"emnist-letters-{split}-labels-idx1-ubyte.gz")
    for split in ("train", "test")
}
CLASS_NAMES = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
URL = "https://www.nist.gov/itl/products-and-services/emnist-dataset"
GET_FILES = f"download the 'gzip' archive from {URL}, unpack the emnist-letters-* files"


@register(NAME, "EMNIST letters (handwritten A-Z, 28x28 grayscale; Cohen et al. 2017, from NIST SD19)")
def load(split: str = "train", data_dir: str | None = None, image_shape=None) -> ImageData:
    """Loads an EMNIST Letters split.

    Args:
      split: "train" (124,800 images) or "test" (20,800).
      data_dir: a directory holding the IDX files; when given, no other place is searched.
      image_shape: ignored (the data is 28x28x1; the engine checks it against the preset).

    Returns:
      ImageData with upright images [N, 28, 28, 1] uint8, labels [N] int32 0..25 and class_names "A".."Z".

    Raises:
      UserError: unknown split; files not found; a file is corrupt; the files disagree on N; a label is outside
        1..26. One line each, naming the file.
    """
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r} for {NAME}; valid: {', '.join(SPLITS)}")
    directory = find_dir(split, data_dir)
    images_path, labels_path = (find_idx_file(directory, f) for f in SPLITS[split])
    remedy = f"replace it with the file from the 'gzip' archive at {URL}"
    images = read_idx(images_path, remedy=remedy)
    labels = read_idx(labels_path, remedy=remedy)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise UserError(f"{images_path} holds an array of shape {images.shape}, not [N, 28, 28] images; {remedy}")
    if labels.shape != (len(images),):
        raise UserError(
            f"{labels_path} holds labels of shape {labels.shape} but {images_path} has {len(images)} images; "
            f"the two files come from different sets; {remedy}"
        )
    bad = np.flatnonzero((labels < 1) | (labels > len(CLASS_NAMES)))
    if bad.size:
        raise UserError(
            f"{labels_path} has {bad.size} labels outside 1..26 (first: {labels[bad[0]]} at index {bad[0]}); "
            f"is it an emnist-letters file? {remedy}"
        )
    return ImageData(
        # EMNIST stores images transposed; the copy makes the upright array contiguous.
        images=np.ascontiguousarray(images.transpose(0, 2, 1))[..., np.newaxis],
        labels=(labels - 1).astype(np.int32),
        class_names=CLASS_NAMES,
        source=f"{directory} ({NAME} {split})",
    )


def candidate_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The directories searched for the files, in order; an explicit `data_dir` is the only one."""
    return places.candidate_dirs((NAME, "emnist"), data_dir, keras_names=("emnist",))


def find_dir(split: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Returns the first candidate directory holding both files of `split`.

    Raises:
      UserError: `data_dir` was given and lacks the files, or no default place has them; says where to get them.
    """
    needed, candidates = SPLITS[split], candidate_dirs(data_dir)
    how = f"{GET_FILES} into a directory"
    found = places.local_dir(candidates, needed, data_dir, f"{NAME} {split}", put=GET_FILES, how_to_get=how)
    if found is not None:
        return found
    raise UserError(
        f"{NAME} {split} files ({', '.join(needed)}) not found in {places.looked_in(candidates)}; {GET_FILES} into "
        "one of those directories or pass --data-dir"
    )
