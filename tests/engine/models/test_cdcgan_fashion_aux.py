"""cdcgan_fashion_aux: cdcgan_fashion's G and critic, plus a class head in D that sees the image and not the label."""

import dataclasses

import keras
import numpy as np

from engine.presets import get_preset
from engine.step.gan import GAN


def test_class_head_ignores_the_label_and_the_critic_reads_it():
    gan = GAN(get_preset("cdcgan_fashion_aux"))
    assert gan.conditioning == "input_aux"
    images = np.random.default_rng(0).uniform(-1, 1, (2, 28, 28, 1)).astype(np.float32)
    logit_0, classes_0 = gan.discriminator([images, np.array([0, 0], np.int32)], training=False)
    logit_7, classes_7 = gan.discriminator([images, np.array([7, 7], np.int32)], training=False)
    assert logit_0.shape == (2, 1) and classes_0.shape == (2, 10)
    np.testing.assert_array_equal(classes_0, classes_7)  # the class head cannot read the answer off its input
    assert not np.allclose(logit_0, logit_7)
    # G is cdcgan_fashion's: same parameter count.
    assert gan.generator.count_params() == GAN(get_preset("cdcgan_fashion")).generator.count_params()


def test_spectral_norm_wraps_the_critic_and_the_class_head():
    gan = GAN(dataclasses.replace(get_preset("cdcgan_fashion_aux"), spectral_norm=True))
    wrapped = [layer for layer in gan.discriminator.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(wrapped) == 6  # the critic's 2 convs and Dense, the class head's 2 convs and Dense
