"""Auxiliary-classifier GAN for Fashion-MNIST (Odena et al. 2017) on the dcgan_fashion networks.

G: [z, label] -> z concatenated with Embedding(label) -> the dcgan_fashion generator body (cdcgan_fashion's G).
D: image -> the dcgan_fashion convolutions -> two heads: the real/fake logit and the class logits. Conditioning
"acgan": D also learns to name the class of real images and of generated ones, and G is trained to make its images
named as the class it was asked for, which is what pushes each class's samples to be recognisable.
"""

import keras
from keras import layers

from engine.config import Config
from engine.models.cdcgan_fashion import build_generator
from engine.models.dcgan_fashion import discriminator_features
from engine.models.family import register


def build_discriminator(cfg: Config) -> keras.Model:
    """image [b, 28, 28, 1] -> [logit [b, 1], class_logits [b, num_classes]]."""
    image = keras.Input(cfg.image_shape, name="image")
    features = discriminator_features(image, cfg)
    logit = layers.Dense(1, dtype="float32", name="logit")(features)
    class_logits = layers.Dense(cfg.num_classes, dtype="float32", name="class_logits")(features)
    return keras.Model(image, [logit, class_logits], name="discriminator")


register("acgan_fashion", build_generator, build_discriminator, conditioning="acgan")
