"""Scoring image sets against the reference split: range handling, the reference points, conditional metrics."""

import numpy as np
import pytest

from engine.data.registry import load_dataset
from engine.quality.evaluator import load_evaluator, to_unit
from engine.quality.report import Judge, evaluate_images, to_unit_range


def test_to_unit_range_maps_and_clips():
    np.testing.assert_allclose(to_unit_range(np.array([-1.0, 0.0, 1.0, 1.2]), (-1, 1)), [0, 0.5, 1, 1])
    np.testing.assert_allclose(to_unit_range(np.array([0.25, -0.1]), (0, 1)), [0.25, 0])


def test_the_reference_set_itself_scores_zero_fid_in_any_output_range(evaluator_cache, data_dir):
    test = load_dataset("fashion_mnist", "test", data_dir)
    images = to_unit(test.images) * 2 - 1  # as a tanh generator would return them
    result = evaluate_images(
        images, dataset="fashion_mnist", output_range=(-1, 1), data_dir=data_dir, cache_dir=evaluator_cache
    )
    assert result["fid"] == pytest.approx(0.0, abs=1e-6)
    assert set(result) == {
        "fid",
        "kid",
        "kid_stderr",
        "score",
        "score_std",
        "num_samples",
        "precision",
        "recall",
        "density",
        "coverage",
        "class_counts",
        "class_entropy",
        "class_ratio",
    }
    assert result["precision"] == result["recall"] == result["coverage"] == 1.0  # the same set: every ball holds it
    assert sum(result["class_counts"]) == len(images)


def test_floor_beats_noise(evaluator_cache, data_dir):
    refs = Judge("fashion_mnist", data_dir=data_dir, cache_dir=evaluator_cache).reference_points(64)
    assert 0 <= refs["floor"]["fid"] < refs["noise"]["fid"]
    assert refs["floor"]["kid"] < refs["noise"]["kid"]


def test_labels_add_class_accuracy_and_intra_class_fid(evaluator_cache, data_dir):
    test = load_dataset("fashion_mnist", "test", data_dir)
    judge = Judge("fashion_mnist", data_dir=data_dir, cache_dir=evaluator_cache)
    result = judge.score(to_unit(test.images), test.labels)
    predicted = load_evaluator("fashion_mnist", cache_dir=evaluator_cache).probabilities(to_unit(test.images))
    assert result["class_accuracy"] == pytest.approx(np.mean(predicted.argmax(axis=1) == test.labels))
    # Each class's images are exactly that class's reference images: every intra-class FID is 0.
    assert result["intra_fid"] == pytest.approx(0.0, abs=1e-6)
    assert sorted(result["intra_fid_per_class"]) == sorted(set(test.labels.tolist()))
    shuffled = judge.score(to_unit(test.images), np.roll(test.labels, 1))
    assert shuffled["intra_fid"] > result["intra_fid"]
