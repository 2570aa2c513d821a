"""Class-conditional DCGAN for Fashion-MNIST: the dcgan_fashion networks with the label fed to both.

G: [z, label] -> z concatenated with Embedding(label) -> the dcgan_fashion generator body.
D: [image, label] -> the image with a label plane (Embedding(label) reshaped to H x W x 1) as an extra channel
-> the dcgan_fashion discriminator body. Conditioning "input" (the D takes the label; no auxiliary classifier).
"""

import keras
from keras import layers

from engine.config import Config
from engine.models.dcgan_fashion import discriminator_body, generator_body
from engine.models.family import register

LABEL_EMBEDDING = 50


def build_generator(cfg: Config) -> keras.Model:
    z = keras.Input((cfg.latent_dim,), name="z")
    label = keras.Input((), dtype="int32", name="label")
    x = layers.Concatenate()([z, layers.Embedding(cfg.num_classes, LABEL_EMBEDDING)(label)])
    return keras.Model([z, label], generator_body(x, cfg), name="generator")


def critic(image, label, cfg: Config):
    """The logit of D: the image with a label plane (Embedding(label) as H x W x 1) -> dcgan_fashion's D body."""
    h, w, _ = cfg.image_shape
    plane = layers.Reshape((h, w, 1))(layers.Embedding(cfg.num_classes, h * w)(label))
    return discriminator_body(layers.Concatenate()([image, plane]), cfg)


def build_discriminator(cfg: Config) -> keras.Model:
    image = keras.Input(cfg.image_shape, name="image")
    label = keras.Input((), dtype="int32", name="label")
    return keras.Model([image, label], critic(image, label, cfg), name="discriminator")


register("cdcgan_fashion", build_generator, build_discriminator, conditioning="input")
