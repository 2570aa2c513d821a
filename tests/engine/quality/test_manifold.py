"""Precision, recall, density and coverage on synthetic feature clouds whose answers are known."""

import numpy as np
import pytest

from engine.quality.manifold import knn_radii, manifold_metrics


def cloud(n, center=0.0, d=8, seed=0, scale=1.0):
    return center + scale * np.random.default_rng(seed).standard_normal((n, d))


def test_identical_sets_score_one():
    x = cloud(500)
    m = manifold_metrics(x, x.copy())
    assert m["precision"] == 1.0 and m["recall"] == 1.0 and m["coverage"] == 1.0
    assert m["density"] >= 1.0  # each point lies in its own ball and its k neighbours'


def test_two_samples_of_one_distribution_score_near_one():
    m = manifold_metrics(cloud(2000, seed=1), cloud(2000, seed=2))
    assert m["precision"] > 0.85 and m["recall"] > 0.85 and m["coverage"] > 0.85
    assert 0.8 < m["density"] < 1.2


def test_disjoint_sets_score_zero():
    m = manifold_metrics(cloud(500, seed=1), cloud(500, center=100.0, seed=2))
    assert m == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_a_collapsed_generator_is_precise_but_recalls_little():
    # Generated samples all from one tight corner of the real cloud: fidelity high, diversity low.
    real = cloud(2000, seed=1)
    fake = cloud(2000, center=real[0], seed=2, scale=0.05)
    m = manifold_metrics(real, fake)
    assert m["precision"] > 0.95
    assert m["recall"] < 0.05 and m["coverage"] < 0.05


def test_a_generator_spread_wider_than_the_data_recalls_all_but_is_imprecise():
    real = cloud(2000, seed=1)
    fake = cloud(2000, seed=2, scale=4.0)
    m = manifold_metrics(real, fake)
    assert m["recall"] > 0.95 and m["precision"] < 0.2


def test_knn_radii_are_the_kth_neighbour_distance():
    x = np.arange(10, dtype=np.float32)[:, None]  # points on a line, 1 apart
    assert knn_radii(x, k=1).tolist() == [1.0] * 10
    assert knn_radii(x, k=3)[0] == 9.0 and knn_radii(x, k=3)[5] == 4.0  # squared: 3^2 from an end, 2^2 inside
    with pytest.raises(ValueError, match="more than k=5"):
        knn_radii(x[:5])
