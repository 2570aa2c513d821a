"""F. Mohr's TF1 DCGAN (seed text 004), the network both of its families share: dcgan_faces (40x40x3, 256/128/64
filters, BN momentum 0.9) and balanced_dcgan_mnist (28x28x1, 64 filters throughout, BN momentum 0.99).

G: z -> Dense 4*4*C (LeakyReLU 0.2, BN) -> bilinear resize to H/4 x W/4 -> three Conv2DTranspose 5x5 with strides
2, 2, 1 (same block) -> Conv2DTranspose(C) in the output activation. D: three Conv2D 5x5 with strides 2, 1, 1
(LeakyReLU 0.2, Dropout 0.4) -> Dense 128 (LeakyReLU 0.2) -> logit. Not a family itself: it registers nothing.
"""

import keras
from keras import layers

from engine.config import Config
from engine.models.family import dropout_rate
from engine.models.layers import Dropout

STRIDES = (2, 2, 1)  # G's up-blocks; D's down-blocks run (2, 1, 1)


def lrelu_bn(x, momentum: float):
    # The source's `tf.layers.dropout` between the two never ran. Here G has none: Dropout feeding BatchNorm leaves
    # moving statistics that inference mode (no dropout) does not match, and samples lose most of their variety.
    x = layers.LeakyReLU(0.2)(x)
    # Keras BN defaults (with gamma); TF1's contrib batch_norm had scale=False, i.e. no gamma.
    return layers.BatchNormalization(momentum=momentum)(x)


def mohr_generator(cfg: Config, filters: tuple[int, int, int], momentum: float) -> keras.Model:
    """z [b, latent] -> image [b, H, W, C] in cfg.output_activation; `filters` of the three up-blocks."""
    h, w, c = cfg.image_shape
    z = keras.Input((cfg.latent_dim,), name="z")
    x = lrelu_bn(layers.Dense(4 * 4 * c)(z), momentum)  # BN over the Dense units, before the reshape
    x = layers.Reshape((4, 4, c))(x)
    # tf.image.resize_images used legacy corner alignment; Keras resizes with half-pixel centers. No weights either way.
    x = layers.Resizing(h // 4, w // 4, interpolation="bilinear")(x)
    for width, stride in zip(filters, STRIDES, strict=True):
        x = lrelu_bn(layers.Conv2DTranspose(width, 5, strides=stride, padding="same")(x), momentum)
    image = layers.Conv2DTranspose(
        c, 5, padding="same", activation=cfg.output_activation, dtype="float32", name="image"
    )(x)
    return keras.Model(z, image, name="generator")


def mohr_discriminator(cfg: Config, filters: tuple[int, int, int]) -> keras.Model:
    """image [b, H, W, C] -> logit [b, 1]; `filters` of the three down-blocks."""
    image = keras.Input(cfg.image_shape, name="image")
    x = image
    for width, stride in zip(filters, (2, 1, 1), strict=True):
        x = layers.Conv2D(width, 5, strides=stride, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
        x = Dropout(dropout_rate(cfg, 0.4))(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128)(x)
    x = layers.LeakyReLU(0.2)(x)
    logit = layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(image, logit, name="discriminator")
