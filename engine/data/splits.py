"""A deterministic train/test hold-out for sources that ship no official split (the A-Z csv, image folders)."""

import numpy as np

SPLITS = ("train", "test")
TEST_FRACTION = 0.1
SPLIT_SEED = 0


def split_indices(n: int, split: str) -> np.ndarray:
    """The sorted indices of `split` in a deterministic hold-out of `n` items.

    A permutation of range(n) with seed 0; its last n // 10 entries are "test", the rest "train". Sorting keeps
    file order inside a split. Used by every loader whose source has no official split.
    """
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_test = int(n * TEST_FRACTION)
    return np.sort(perm[n - n_test :] if split == "test" else perm[: n - n_test])
