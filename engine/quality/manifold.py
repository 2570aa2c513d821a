"""Fidelity and diversity as separate numbers: k-NN manifold metrics on classifier features (pure numpy).

- precision / recall (Kynkäänniemi et al. 2019): the fraction of generated samples inside the real manifold, and
  of real samples inside the generated one; a manifold is the union of balls around each sample reaching its k-th
  nearest neighbour in its own set.
- density / coverage (Naeem et al. 2020): density counts how many real balls hold each generated sample (divided
  by k; ~1 when the two sets come from one distribution, above 1 when samples crowd dense real regions); coverage is
  the fraction of real samples whose ball holds at least one generated sample (robust to real outliers).

All four are ~1 for two samples of one distribution and fall toward 0 as the sets separate. k = 5 as in Naeem et
al.'s reference code (`prdc`); both sets should have the same size (a few thousand) for comparable numbers.
"""

import numpy as np

NEAREST_K = 5
_CHUNK = 1024  # rows of a distance matrix held at once (1024 x 10,000 float32 = 40 MB)


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def _chunks(a: np.ndarray, b: np.ndarray):
    """(row slice, squared distances of those rows of `a` to all of `b`), chunk by chunk."""
    for start in range(0, len(a), _CHUNK):
        rows = slice(start, start + _CHUNK)
        yield rows, _squared_distances(a[rows], b)


def knn_radii(feats: np.ndarray, k: int = NEAREST_K) -> np.ndarray:
    """Squared distance from each sample to its k-th nearest other sample in the same set."""
    feats = np.asarray(feats, np.float32)
    if len(feats) <= k:
        raise ValueError(f"k-NN radii need more than k={k} samples, got {len(feats)}")
    radii = np.empty(len(feats), np.float32)
    for rows, d in _chunks(feats, feats):
        radii[rows] = np.partition(d, k, axis=1)[:, k]  # index 0 is the sample itself (distance 0)
    return radii


def manifold_metrics(real, fake, k: int = NEAREST_K, real_radii=None) -> dict:
    """{"precision", "recall", "density", "coverage"} of generated features `fake` [M, D] against `real` [N, D].

    `real_radii`: `knn_radii(real, k)` when the caller keeps it (the reference set is scored against many times).
    """
    real, fake = np.asarray(real, np.float32), np.asarray(fake, np.float32)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"need features [N, D] and [M, D], got {real.shape} and {fake.shape}")
    real_radii = knn_radii(real, k) if real_radii is None else real_radii
    fake_radii = knn_radii(fake, k)
    in_real_balls = np.zeros(len(fake), np.int64)  # per generated sample: how many real balls hold it
    real_covered = np.zeros(len(real), bool)  # per real sample: does its ball hold a generated sample
    real_recalled = np.zeros(len(real), bool)  # per real sample: is it inside some generated ball
    for rows, d in _chunks(real, fake):  # d[i, j]: real i to generated j
        inside = d <= real_radii[rows, None]
        in_real_balls += inside.sum(0)
        real_covered[rows] = (d < real_radii[rows, None]).any(1)
        real_recalled[rows] = (d <= fake_radii[None, :]).any(1)
    return {
        "precision": float((in_real_balls > 0).mean()),
        "recall": float(real_recalled.mean()),
        "density": float(in_real_balls.mean() / k),
        "coverage": float(real_covered.mean()),
    }
