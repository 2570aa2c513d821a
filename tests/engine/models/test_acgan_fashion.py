"""acgan_fashion: cdcgan_fashion's generator, and a discriminator with a real/fake head and a class head."""

import dataclasses

import numpy as np

from engine.presets import get_preset
from engine.step.gan import GAN


def test_d_names_the_class_and_g_takes_the_label():
    cfg = dataclasses.replace(get_preset("cdcgan_fashion"), model="acgan_fashion")
    gan = GAN(cfg)
    assert gan.conditioning == "acgan"
    images = np.zeros((3, 28, 28, 1), np.float32)
    logit, class_logits = gan.discriminator(images, training=False)
    assert logit.shape == (3, 1) and class_logits.shape == (3, 10)
    z = np.random.default_rng(0).standard_normal((2, cfg.latent_dim)).astype(np.float32)
    a = gan.generator([z, np.array([0, 0], np.int32)], training=False)
    b = gan.generator([z, np.array([7, 7], np.int32)], training=False)
    assert a.shape == (2, 28, 28, 1) and not np.allclose(a, b)
    # The same generator as cdcgan_fashion: same layers, same parameter count.
    assert gan.generator.count_params() == GAN(get_preset("cdcgan_fashion")).generator.count_params()
