"""The evaluator: cached, reloaded identically, refused when missing or mismatched; real accuracy (slow)."""

import json
from pathlib import Path

import numpy as np
import pytest

from engine.data.mnist import FASHION_MNIST, candidate_dirs
from engine.errors import UserError
from engine.quality.evaluator import evaluator_dir, load_evaluator, to_unit, train_evaluator


@pytest.fixture
def cache(evaluator_cache):
    return evaluator_cache


def test_training_caches_model_and_info(cache, data_dir):
    info = json.loads((evaluator_dir("fashion_mnist", cache) / "evaluator.json").read_text())
    assert info["image_shape"] == [28, 28, 1] and info["num_classes"] == 10
    assert 0.0 <= info["test_accuracy"] <= 1.0 and info["test_images"] == 256
    assert str(data_dir) in info["source"] and info["trained_at"]


def test_reloaded_evaluator_gives_the_same_features_and_probabilities(cache, data_dir):
    from engine.data.registry import load_dataset

    images = to_unit(load_dataset("fashion_mnist", "test", data_dir).images[:40])
    first = load_evaluator("fashion_mnist", cache_dir=cache)
    feats, probs = first.outputs(images, batch_size=16)  # batches must not change the result
    assert feats.shape == (40, 128) and probs.shape == (40, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    again = load_evaluator("fashion_mnist", cache_dir=cache)
    np.testing.assert_allclose(again.features(images), feats, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(again.probabilities(images), probs, rtol=1e-4, atol=1e-6)


def test_wrong_inputs_are_refused(cache):
    evaluator = load_evaluator("fashion_mnist", cache_dir=cache)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        evaluator.features(np.full((2, 28, 28, 1), 255.0, np.float32))
    with pytest.raises(ValueError, match="expects images"):
        evaluator.features(np.zeros((2, 32, 32, 1), np.float32))
    with pytest.raises(UserError, match="trained on images"):
        load_evaluator("fashion_mnist", cache_dir=cache, image_shape=(40, 40, 3))


def test_missing_evaluator_names_the_command(tmp_path):
    with pytest.raises(UserError, match="python -m engine.evaluate --train-evaluator --dataset mnist"):
        load_evaluator("mnist", cache_dir=tmp_path)


def test_cache_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_ENGINE_CACHE", str(tmp_path))
    assert evaluator_dir("mnist") == tmp_path / "evaluators" / "mnist"


def test_an_existing_evaluator_is_retrained_only_with_force(cache, data_dir):
    with pytest.raises(UserError, match="--force"):
        train_evaluator("fashion_mnist", data_dir=data_dir, cache_dir=cache, epochs=1, verbose=0)


def test_a_shipped_dataset_is_retrained_only_with_force(tmp_path, data_dir):
    with pytest.raises(UserError, match="has a shipped evaluator .* pass --force"):
        train_evaluator("fashion_mnist", data_dir=data_dir, cache_dir=tmp_path, epochs=1, verbose=0)
    assert not (tmp_path / "evaluators").exists()


def test_a_damaged_shipped_evaluator_is_refused(tmp_path, monkeypatch):
    from engine.quality import evaluator as module

    copy = tmp_path / "shipped" / "fashion_mnist"
    copy.mkdir(parents=True)
    for name in ("evaluator.json", "evaluator.keras"):
        (copy / name).write_bytes((module.shipped_dir("fashion_mnist") / name).read_bytes())
    with open(copy / "evaluator.keras", "r+b") as f:  # one flipped byte
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setattr(module, "SHIPPED", tmp_path / "shipped")
    with pytest.raises(UserError, match="shipped evaluator .* is damaged .*reinstall"):
        load_evaluator("fashion_mnist", cache_dir=tmp_path / "cache")


def real_fashion_dir() -> Path | None:
    return next((d for d in candidate_dirs("fashion_mnist") if (d / "t10k-images-idx3-ubyte.gz").exists()), None)


@pytest.mark.slow
@pytest.mark.skipif(real_fashion_dir() is None, reason="real Fashion-MNIST not installed")
def test_fashion_mnist_evaluator_is_at_least_90_percent_accurate_on_held_out_images(tmp_path):
    from engine.data.registry import load_dataset

    evaluator = train_evaluator("fashion_mnist", cache_dir=tmp_path, verbose=0, force=True)
    test = load_dataset("fashion_mnist", "test")  # never seen in training
    held_out = slice(5000, None)
    accuracy = np.mean(evaluator.probabilities(to_unit(test.images[held_out])).argmax(axis=1) == test.labels[held_out])
    assert accuracy >= 0.90, f"{FASHION_MNIST.name} evaluator accuracy {accuracy:.4f}"
    assert evaluator.test_accuracy >= 0.90


@pytest.mark.skipif(real_fashion_dir() is None, reason="real Fashion-MNIST not installed")
def test_shipped_evaluator_loads_on_a_fresh_cache_and_reaches_its_stated_accuracy(tmp_path):
    from engine.data.registry import load_dataset

    evaluator = load_evaluator("fashion_mnist", cache_dir=tmp_path)
    assert evaluator.info["shipped"] and evaluator.info["sha256"] == evaluator.info["sha256"].lower()
    test = load_dataset("fashion_mnist", "test")
    part = slice(0, 2000)  # a slice keeps it quick; 2,000 images put the accuracy within ~0.013 (2 sigma)
    accuracy = np.mean(evaluator.probabilities(to_unit(test.images[part])).argmax(axis=1) == test.labels[part])
    assert abs(accuracy - evaluator.test_accuracy) < 0.02, (accuracy, evaluator.test_accuracy)
    assert evaluator.test_accuracy >= 0.90
    assert not list(tmp_path.iterdir())  # nothing trained or written
