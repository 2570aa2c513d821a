"""Class-conditional DCGAN for Fashion-MNIST: the dcgan_fashion networks with the label fed to both.

G: [z, label] -> z concatenated with Embedding(label) -> the dcgan_fashion generator body.
D: [image, label] -> the image with a label plane (Embedding(label) reshaped to H x W x 1) as an extra channel
-> the dcgan_fashion discriminator body. Conditioning "input" (the D takes the label; no auxiliary classifier).
"""

import keras
from keras import layers

from engine.models import register

LABEL_EMBEDDING = 50


def build_generator(cfg) -> keras.Model:
    h, w, c = cfg.image_shape
    z = keras.Input((cfg.latent_dim,), name="z")
    label = keras.Input((), dtype="int32", name="label")
    x = layers.Concatenate()([z, layers.Embedding(cfg.num_classes, LABEL_EMBEDDING)(label)])
    x = layers.Dense((h // 4) * (w // 4) * 128)(x)
    x = layers.Reshape((h // 4, w // 4, 128))(x)
    x = layers.BatchNormalization()(x)
    x = layers.Conv2DTranspose(64, 5, strides=2, padding="same", activation="selu")(x)
    x = layers.BatchNormalization()(x)
    image = layers.Conv2DTranspose(c, 5, strides=2, padding="same", activation=cfg.output_activation,
                                   dtype="float32", name="image")(x)
    return keras.Model([z, label], image, name="generator")


def build_discriminator(cfg) -> keras.Model:
    h, w, _ = cfg.image_shape
    image = keras.Input(cfg.image_shape, name="image")
    label = keras.Input((), dtype="int32", name="label")
    plane = layers.Reshape((h, w, 1))(layers.Embedding(cfg.num_classes, h * w)(label))
    x = layers.Concatenate()([image, plane])
    x = layers.Conv2D(64, 5, strides=2, padding="same")(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Conv2D(128, 5, strides=2, padding="same")(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Flatten()(x)
    logit = layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model([image, label], logit, name="discriminator")


register("cdcgan_fashion", build_generator, build_discriminator, conditioning="input")
