"""DCGAN for MNIST (Brownlee, "How to Develop a GAN for Generating MNIST Handwritten Digits", Machine Learning Mastery).

G: Dense 7*7*128 -> two Conv2DTranspose(128, 4, s2) -> Conv2D(1, 7) sigmoid; D: two Conv2D(64, 3, s2) + Dropout 0.4.
"""

import keras
from keras import layers

from engine.config import Config
from engine.models.family import dropout_rate, register
from engine.models.layers import Dropout


def build_generator(cfg: Config) -> keras.Model:
    """z [b, latent] -> image [b, 28, 28, 1]; 1,164,289 parameters at latent 100."""
    h, w, c = cfg.image_shape
    z = keras.Input((cfg.latent_dim,), name="z")
    x = layers.Dense((h // 4) * (w // 4) * 128)(z)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((h // 4, w // 4, 128))(x)
    x = layers.Conv2DTranspose(128, 4, strides=2, padding="same")(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2DTranspose(128, 4, strides=2, padding="same")(x)
    x = layers.LeakyReLU(0.2)(x)
    image = layers.Conv2D(c, 7, padding="same", activation=cfg.output_activation, dtype="float32", name="image")(x)
    return keras.Model(z, image, name="generator")


def build_discriminator(cfg: Config) -> keras.Model:
    """image [b, 28, 28, 1] -> logit [b, 1]; 40,705 parameters."""
    image = keras.Input(cfg.image_shape, name="image")
    x = layers.Conv2D(64, 3, strides=2, padding="same")(image)
    x = layers.LeakyReLU(0.2)(x)
    x = Dropout(dropout_rate(cfg, 0.4))(x)
    x = layers.Conv2D(64, 3, strides=2, padding="same")(x)
    x = layers.LeakyReLU(0.2)(x)
    x = Dropout(dropout_rate(cfg, 0.4))(x)
    x = layers.Flatten()(x)
    logit = layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(image, logit, name="discriminator")


register("dcgan_mnist", build_generator, build_discriminator)
