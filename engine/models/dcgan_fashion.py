"""DCGAN for Fashion-MNIST ("DCGAN with Keras" on Fashion-MNIST, Géron's Hands-On ML ch. 17 code with SELU in G and
Dropout 0.3 in D): Conv2DTranspose generator, strided-conv discriminator."""

import keras
from keras import layers

from engine.config import Config
from engine.models.family import dropout_rate, register
from engine.models.layers import Dropout


def generator_body(x, cfg: Config):
    """The generator after its input: Dense -> Reshape -> BN -> ConvT(64, selu) -> BN -> ConvT(C) = image."""
    h, w, c = cfg.image_shape
    x = layers.Dense((h // 4) * (w // 4) * 128)(x)
    x = layers.Reshape((h // 4, w // 4, 128))(x)
    x = layers.BatchNormalization()(x)
    x = layers.Conv2DTranspose(64, 5, strides=2, padding="same", activation="selu")(x)
    x = layers.BatchNormalization()(x)
    # The output layer computes in float32 even under a mixed-precision policy.
    return layers.Conv2DTranspose(
        c, 5, strides=2, padding="same", activation=cfg.output_activation, dtype="float32", name="image"
    )(x)


def discriminator_features(x, cfg: Config):
    """Two strided 5x5 convs (64, 128) with LeakyReLU(0.2) and Dropout (0.3 unless cfg.dropout), flattened."""
    rate = dropout_rate(cfg, 0.3)
    for filters in (64, 128):
        x = layers.Conv2D(filters, 5, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
        x = Dropout(rate)(x)
    return layers.Flatten()(x)


def discriminator_body(x, cfg: Config):
    """The discriminator after its input: `discriminator_features`, then Dense(1) = the logit."""
    return layers.Dense(1, dtype="float32", name="logit")(discriminator_features(x, cfg))


def build_generator(cfg: Config) -> keras.Model:
    """z [b, latent] -> image [b, 28, 28, 1]; 840,705 parameters at latent 100."""
    z = keras.Input((cfg.latent_dim,), name="z")
    return keras.Model(z, generator_body(z, cfg), name="generator")


def build_discriminator(cfg: Config) -> keras.Model:
    """image [b, 28, 28, 1] -> logit [b, 1]; 212,865 parameters."""
    image = keras.Input(cfg.image_shape, name="image")
    return keras.Model(image, discriminator_body(image, cfg), name="discriminator")


register("dcgan_fashion", build_generator, build_discriminator)
