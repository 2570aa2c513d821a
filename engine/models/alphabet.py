"""GAN for handwritten A-Z letters (Keras notebook on Kaggle's "A-Z Handwritten Alphabets", 28x28x1, z ~ N(0, 1)).

G: Dense 1024 -> Dense 7*7*128 (BN 0.8, ReLU) -> two UpSampling2D + Conv2D steps; D: two 5x5 strided convs -> Dense 256.
"""

import keras
from keras import layers

from engine.config import Config
from engine.models.family import dropout_rate, register
from engine.models.layers import Dropout


def _init():
    return keras.initializers.RandomNormal(0.0, 0.02)


def build_generator(cfg: Config) -> keras.Model:
    """z [b, latent] -> image [b, 28, 28, 1]; 6,595,073 parameters at latent 100."""
    h, w, c = cfg.image_shape
    z = keras.Input((cfg.latent_dim,), name="z")
    x = layers.Dense(1024)(z)
    x = layers.BatchNormalization(momentum=0.8)(x)
    x = layers.ReLU()(x)
    x = layers.Dense((h // 4) * (w // 4) * 128)(x)
    x = layers.BatchNormalization(momentum=0.8)(x)
    x = layers.ReLU()(x)
    x = layers.Reshape((h // 4, w // 4, 128))(x)
    x = layers.UpSampling2D(2)(x)
    x = layers.Conv2D(64, 2, padding="same", kernel_initializer=_init())(x)
    x = layers.BatchNormalization(momentum=0.8)(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.UpSampling2D(2)(x)
    image = layers.Conv2D(
        c,
        3,
        padding="same",
        kernel_initializer=_init(),
        activation=cfg.output_activation,
        dtype="float32",
        name="image",
    )(x)
    return keras.Model(z, image, name="generator")


def build_discriminator(cfg: Config) -> keras.Model:
    """image [b, 28, 28, 1] -> logit [b, 1]; 1,026,305 parameters."""
    image = keras.Input(cfg.image_shape, name="image")
    # The notebook initialises the discriminator's convs with N(0, 0.02) too.
    x = layers.Conv2D(64, 5, strides=2, padding="same", kernel_initializer=_init())(image)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2D(128, 5, strides=2, padding="valid", kernel_initializer=_init())(x)  # 14x14 -> 5x5
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256)(x)
    x = layers.LeakyReLU(0.2)(x)
    x = Dropout(dropout_rate(cfg, 0.5))(x)
    logit = layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(image, logit, name="discriminator")


register("alphabet", build_generator, build_discriminator)
