"""DCGAN for MNIST (F. Mohr, "Teaching a DCGAN to draw MNIST characters", DCGAN-MNIST.ipynb, TF1): the faces recipe
shrunk to 28x28x1 with 64 filters throughout; the tutorial trained it with loss-ratio balancing of the two updates.

G: z ~ U[0, 1) (100 in the preset, as the article says; 64 in the notebook) -> Dense 4*4*1 (LeakyReLU 0.2, BN 0.99,
as in the source) -> bilinear resize to 7x7 -> Conv2DTranspose 64 s2/s2/s1 (same block) -> Conv2DTranspose(1)
sigmoid; D: Conv2D 64 s2/s1/s1 (LeakyReLU 0.2, Dropout 0.4) -> Dense 128 -> logit. D's Dropout runs at
1 - keep_prob = 0.4, the rate the article's `keep_prob` (0.6) intends; the TF1 code's dropout never ran (keep_prob
passed as the drop rate, `training` left False), in D or in G. G has none, for the reason given in dcgan_faces.py:
dropout feeding BatchNorm would leave inference-mode samples with a third of their variety.
"""

import keras

from engine.config import Config
from engine.models.family import register
from engine.models.mohr import mohr_discriminator, mohr_generator

MOMENTUM = 0.99


def build_generator(cfg: Config) -> keras.Model:
    """z [b, latent] -> image [b, 28, 28, 1]; 210,641 parameters at latent 100 (210,065 at 64)."""
    return mohr_generator(cfg, (64, 64, 64), MOMENTUM)


def build_discriminator(cfg: Config) -> keras.Model:
    """image [b, 28, 28, 1] -> logit [b, 1]; 1,812,481 parameters."""
    return mohr_discriminator(cfg, (64, 64, 64))


register("balanced_dcgan_mnist", build_generator, build_discriminator)
