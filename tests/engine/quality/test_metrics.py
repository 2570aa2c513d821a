"""The quality metrics against closed forms and known cases (pure numpy, no TensorFlow)."""

import numpy as np
import pytest

from engine.quality.metrics import class_balance, classifier_score, frechet_distance, gaussian_frechet, kid


def random_cov(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_gaussian_frechet_matches_closed_form_for_diagonal_covariances():
    # Commuting covariances: d = |mu1 - mu2|^2 + sum((sqrt(a) - sqrt(b))^2).
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, -1.0, 2.0])
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert gaussian_frechet(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_gaussian_frechet_matches_trace_of_sqrt_of_product_for_full_covariances():
    # Independent route: tr((C1 C2)^1/2) = sum of sqrt of the (real, non-negative) eigenvalues of C1 C2.
    rng = np.random.default_rng(0)
    d = 16
    c1, c2 = random_cov(rng, d), random_cov(rng, d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    cross = np.sqrt(np.linalg.eigvals(c1 @ c2).real.clip(0)).sum()
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * cross
    assert gaussian_frechet(mu1, c1, mu2, c2) == pytest.approx(expected, rel=1e-8)
    assert gaussian_frechet(mu2, c2, mu1, c1) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_of_samples_approaches_the_gaussians_distance():
    rng = np.random.default_rng(1)
    d = 4
    c1, c2 = random_cov(rng, d), random_cov(rng, d)
    mu2 = np.full(d, 0.5)
    a = rng.multivariate_normal(np.zeros(d), c1, size=200_000)
    b = rng.multivariate_normal(mu2, c2, size=200_000)
    assert frechet_distance(a, b) == pytest.approx(gaussian_frechet(np.zeros(d), c1, mu2, c2), rel=0.03)


def test_frechet_distance_is_zero_for_identical_sets_positive_and_symmetric_otherwise():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((500, 32))
    b = rng.standard_normal((500, 32)) * 1.5 + 0.2
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, b) > 1.0
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-8)


def test_frechet_distance_is_finite_with_singular_covariances():
    # Fewer samples than features, and a dead (always-zero) feature, as ReLU features give.
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((20, 64)), rng.standard_normal((20, 64)) + 1.0
    a[:, 0] = b[:, 0] = 0.0
    value = frechet_distance(a, b)
    assert np.isfinite(value) and value > 0


def test_kid_is_near_zero_for_one_distribution_and_clearly_positive_for_two():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((2000, 16)), rng.standard_normal((2000, 16))
    same, same_err = kid(a, b, subsets=20, subset_size=500)
    assert abs(same) < 4 * same_err + 1e-3
    c = rng.standard_normal((2000, 16)) * 1.3 + 0.3
    diff, diff_err = kid(a, c, subsets=20, subset_size=500)
    assert diff > 0.05 and diff > 20 * diff_err and diff > 20 * abs(same)


def test_kid_is_unbiased_unlike_the_plain_mmd_at_small_subsets():
    # At m = 10 the biased MMD^2 of one distribution against itself is clearly positive; KID averages near 0.
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((5000, 8)), rng.standard_normal((5000, 8))
    mean, err = kid(a, b, subsets=2000, subset_size=10, seed=1)
    assert abs(mean) < 4 * err


def test_kid_caps_the_subset_at_the_smaller_set_and_is_seeded():
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((30, 4)), rng.standard_normal((50, 4)) + 1
    assert kid(a, b, subsets=5, subset_size=1000, seed=3) == kid(a, b, subsets=5, subset_size=1000, seed=3)
    with pytest.raises(ValueError):
        kid(a[:1], b)


def test_classifier_score_is_the_class_count_for_confident_balanced_and_one_for_uninformative():
    k = 10
    confident = np.eye(k)[np.arange(1000) % k]
    mean, std = classifier_score(confident, splits=10)
    assert mean == pytest.approx(k, rel=1e-6) and std == pytest.approx(0, abs=1e-6)
    assert classifier_score(np.full((1000, k), 1 / k))[0] == pytest.approx(1.0)
    one_class = np.eye(k)[np.zeros(1000, int)]  # confident but collapsed: no diversity
    assert classifier_score(one_class)[0] == pytest.approx(1.0)


def one_hot(classes, n_classes=10):
    return np.eye(n_classes)[np.asarray(classes)]


def test_class_balance_on_known_histograms():
    uniform = class_balance(one_hot(np.repeat(np.arange(10), 7)))
    assert uniform["class_counts"] == [7] * 10
    assert uniform["class_entropy"] == pytest.approx(1.0) and uniform["class_ratio"] == 1.0

    single = class_balance(one_hot([3] * 50))
    assert single["class_entropy"] == pytest.approx(0.0) and single["class_ratio"] == float("inf")

    # 6 of class 0, 1 of each other class: p = (6, 1 x 9) / 15; the ratio is most / least = 6.
    skewed = class_balance(one_hot([0] * 6 + list(range(1, 10))))
    p = np.array([6] + [1] * 9) / 15
    assert skewed["class_entropy"] == pytest.approx(-(p * np.log(p)).sum() / np.log(10))
    assert skewed["class_ratio"] == 6.0

    # two classes of ten, evenly: entropy log 2 / log 10
    assert class_balance(one_hot([1, 2] * 5))["class_entropy"] == pytest.approx(np.log(2) / np.log(10))
    with pytest.raises(ValueError, match="class probabilities"):
        class_balance(np.ones(5))


def test_class_balance_counts_the_most_probable_class():
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.5, 0.4, 0.1]])
    assert class_balance(probs)["class_counts"] == [2, 1, 1]
