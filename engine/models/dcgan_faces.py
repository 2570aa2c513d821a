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
from keras import layers

from engine.config import Config
from engine.models import dropout_rate, register
from engine.models.layers import Dropout

_MOMENTUM = 0.9  # one `momentum` variable sets every BN of the TF1 generator, the first (after the Dense) included


def _lrelu_bn(x):
    # The source's `tf.layers.dropout` between the two never ran. Here G has none: Dropout feeding BatchNorm leaves
    # moving statistics that inference mode (no dropout) does not match, and samples lose most of their variety.
    x = layers.LeakyReLU(0.2)(x)
    # Keras BN defaults (with gamma); TF1's contrib batch_norm had scale=False, i.e. no gamma.
    return layers.BatchNormalization(momentum=_MOMENTUM)(x)


def build_generator(cfg: Config) -> keras.Model:
    """z [b, latent] -> image [b, 40, 40, 3]; 1,055,283 parameters at latent 100 (1,053,555 at 64)."""
    h, w, c = cfg.image_shape
    z = keras.Input((cfg.latent_dim,), name="z")
    x = _lrelu_bn(layers.Dense(4 * 4 * 3)(z))  # BN over the 48 Dense units, before the reshape
    x = layers.Reshape((4, 4, 3))(x)
    # tf.image.resize_images used legacy corner alignment; Keras resizes with half-pixel centers. No weights either way.
    x = layers.Resizing(h // 4, w // 4, interpolation="bilinear")(x)
    for filters, stride in ((256, 2), (128, 2), (64, 1)):
        x = _lrelu_bn(layers.Conv2DTranspose(filters, 5, strides=stride, padding="same")(x))
    image = layers.Conv2DTranspose(
        c, 5, padding="same", activation=cfg.output_activation, dtype="float32", name="image"
    )(x)
    return keras.Model(z, image, name="generator")


def build_discriminator(cfg: Config) -> keras.Model:
    """image [b, 40, 40, 3] -> logit [b, 1]; 4,320,705 parameters."""
    image = keras.Input(cfg.image_shape, name="image")
    x = image
    for filters, stride in ((256, 2), (128, 1), (64, 1)):
        x = layers.Conv2D(filters, 5, strides=stride, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
        x = Dropout(dropout_rate(cfg, 0.4))(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128)(x)
    x = layers.LeakyReLU(0.2)(x)
    logit = layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(image, logit, name="discriminator")


register("dcgan_faces", build_generator, build_discriminator)
