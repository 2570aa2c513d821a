"""DCGAN for Fashion-MNIST (Géron, Hands-On ML, ch. 17): Conv2DTranspose generator, strided-conv discriminator."""

import keras
from keras import layers

from engine.models import register


def build_generator(cfg) -> keras.Model:
    """z [b, latent] -> image [b, 28, 28, 1]; 840,705 parameters at latent 100."""
    h, w, c = cfg.image_shape
    z = keras.Input((cfg.latent_dim,), name="z")
    x = layers.Dense((h // 4) * (w // 4) * 128)(z)
    x = layers.Reshape((h // 4, w // 4, 128))(x)
    x = layers.BatchNormalization()(x)
    x = layers.Conv2DTranspose(64, 5, strides=2, padding="same", activation="selu")(x)
    x = layers.BatchNormalization()(x)
    # The output layer computes in float32 even under a mixed-precision policy.
    image = layers.Conv2DTranspose(c, 5, strides=2, padding="same", activation=cfg.output_activation,
                                   dtype="float32", name="image")(x)
    return keras.Model(z, image, name="generator")


def build_discriminator(cfg) -> keras.Model:
    """image [b, 28, 28, 1] -> logit [b, 1]; 212,865 parameters."""
    image = keras.Input(cfg.image_shape, name="image")
    x = layers.Conv2D(64, 5, strides=2, padding="same")(image)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Conv2D(128, 5, strides=2, padding="same")(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Flatten()(x)
    logit = layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(image, logit, name="discriminator")


register("dcgan_fashion", build_generator, build_discriminator)
