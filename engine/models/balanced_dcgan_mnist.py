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
from keras import layers

from engine.config import Config
from engine.models import dropout_rate, register
from engine.models.layers import Dropout

_MOMENTUM = 0.99


def _lrelu_bn(x):
    # The source's `tf.layers.dropout` between the two never ran. Here G has none: Dropout feeding BatchNorm leaves
    # moving statistics that inference mode (no dropout) does not match, and samples lose most of their variety.
    x = layers.LeakyReLU(0.2)(x)
    # Keras BN defaults (with gamma); TF1's contrib batch_norm had scale=False, i.e. no gamma.
    return layers.BatchNormalization(momentum=_MOMENTUM)(x)


def build_generator(cfg: Config) -> keras.Model:
    """z [b, latent] -> image [b, 28, 28, 1]; 210,641 parameters at latent 100 (210,065 at 64)."""
    h, w, c = cfg.image_shape
    z = keras.Input((cfg.latent_dim,), name="z")
    x = _lrelu_bn(layers.Dense(4 * 4 * 1)(z))
    x = layers.Reshape((4, 4, 1))(x)
    x = layers.Resizing(h // 4, w // 4, interpolation="bilinear")(x)
    for stride in (2, 2, 1):
        x = _lrelu_bn(layers.Conv2DTranspose(64, 5, strides=stride, padding="same")(x))
    image = layers.Conv2DTranspose(
        c, 5, padding="same", activation=cfg.output_activation, dtype="float32", name="image"
    )(x)
    return keras.Model(z, image, name="generator")


def build_discriminator(cfg: Config) -> keras.Model:
    """image [b, 28, 28, 1] -> logit [b, 1]; 1,812,481 parameters."""
    image = keras.Input(cfg.image_shape, name="image")
    x = image
    for stride in (2, 1, 1):
        x = layers.Conv2D(64, 5, strides=stride, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
        x = Dropout(dropout_rate(cfg, 0.4))(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128)(x)
    x = layers.LeakyReLU(0.2)(x)
    logit = layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(image, logit, name="discriminator")


register("balanced_dcgan_mnist", build_generator, build_discriminator)
