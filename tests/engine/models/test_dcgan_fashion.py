"""The Fashion-MNIST DCGAN has exactly the tutorial's layers: pinned parameter counts and shapes."""

import numpy as np

from engine import models
from engine.presets import get_preset


def test_parameter_counts_match_the_tutorial():
    cfg = get_preset("dcgan_fashion")
    assert models.build_generator(cfg).count_params() == 840_705
    assert models.build_discriminator(cfg).count_params() == 212_865


def test_shapes_and_output_range():
    cfg = get_preset("dcgan_fashion")
    g, d = models.build_generator(cfg), models.build_discriminator(cfg)
    images = np.asarray(g(np.random.default_rng(0).standard_normal((3, 100)).astype(np.float32), training=False))
    assert images.shape == (3, 28, 28, 1)
    assert images.min() >= -1 and images.max() <= 1  # tanh
    assert np.asarray(d(images, training=False)).shape == (3, 1)
