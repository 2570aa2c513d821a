"""DCGAN for 40x40 RGB LFW faces (F. Mohr, "Training a DCGAN to draw human faces", DCGAN-face-creation.ipynb, TF1).

G: z ~ U[0, 1) (100 in the preset, as the article says; 64 in the notebook) -> Dense 4*4*3 -> bilinear resize to
10x10 -> Conv2DTranspose 256/128/64 (LeakyReLU 0.2, BN 0.9) -> Conv2DTranspose(3) sigmoid; D: Conv2D 256/128/64
(LeakyReLU 0.2, Dropout 0.4) -> Dense 128 -> logit. D's Dropout runs at 1 - keep_prob = 0.4, the rate the article's
`keep_prob` (0.6) intends; the TF1 code passed keep_prob where `tf.layers.dropout` takes the drop rate and never set
its `training` flag, so there it never ran, in D or in G. G has none: between LeakyReLU and BatchNorm, as the code
placed it, dropout running would leave BN moving statistics that inference mode (no dropout) does not match, and G's
samples (drawn in inference mode, as the notebook draws them) would keep a third of their variety
(tests/engine/test_published.py).
"""

import keras

from engine.config import Config
from engine.models.family import register
from engine.models.mohr import mohr_discriminator, mohr_generator

MOMENTUM = 0.9  # one `momentum` variable sets every BN of the TF1 generator, the first (after the Dense) included


def build_generator(cfg: Config) -> keras.Model:
    """z [b, latent] -> image [b, 40, 40, 3]; 1,055,283 parameters at latent 100 (1,053,555 at 64)."""
    return mohr_generator(cfg, (256, 128, 64), MOMENTUM)


def build_discriminator(cfg: Config) -> keras.Model:
    """image [b, 40, 40, 3] -> logit [b, 1]; 4,320,705 parameters."""
    return mohr_discriminator(cfg, (256, 128, 64))


register("dcgan_faces", build_generator, build_discriminator)
