"""The tf.data pipeline: scaling to the generator's range, batching, and the fail-fast compatibility checks."""

import dataclasses

import numpy as np
import pytest

from engine.data import ImageData
from engine.data.pipeline import check_compatible, make_dataset, scale_images
from engine.errors import UserError
from engine.presets import get_preset


def data(shape=(28, 28, 1), labels=True, classes=10, n=40):
    images = np.random.default_rng(0).integers(0, 256, (n, *shape), dtype=np.uint8)
    return ImageData(
        images,
        np.arange(n, dtype=np.int32) % classes if labels else None,
        tuple(str(i) for i in range(classes)) if labels else (),
        "test",
    )


@pytest.mark.parametrize("output_range", [(-1.0, 1.0), (0.0, 1.0)])
def test_scaling_maps_0_and_255_to_the_range_ends(output_range):
    scaled = scale_images(np.array([0, 255, 51], np.uint8), output_range).numpy()
    lo, hi = output_range
    np.testing.assert_allclose(scaled, [lo, hi, lo + (hi - lo) * 0.2], atol=1e-6)


def test_dataset_yields_full_global_batches_in_range():
    ds = make_dataset(data(n=40), global_batch_size=16, output_range=(0.0, 1.0), seed=0)
    batches = list(ds.take(5))  # endless: 5 batches from 40 images wraps around
    assert all(b["image"].shape == (16, 28, 28, 1) and b["label"].shape == (16,) for b in batches)
    assert min(float(b["image"].numpy().min()) for b in batches) >= 0.0


@pytest.mark.parametrize(
    "preset, d, message",
    [
        ("acgan_mnist", data(labels=False), "is conditional .* has no labels"),
        ("dcgan_faces", data(), r"has images \(28, 28, 1\) but preset dcgan_faces expects \(40, 40, 3\)"),
        ("acgan_mnist", data(classes=26, n=52), "has 26 classes but preset acgan_mnist has 10"),
        ("dcgan_fashion", data(n=10), "has 10 images, fewer than batch_size 32"),
    ],
)
def test_incompatible_data_fails_before_training(preset, d, message):
    cfg = dataclasses.replace(get_preset(preset), dataset="test")
    with pytest.raises(UserError, match=message):
        check_compatible(d, cfg)
