"""cdcgan_fashion with an auxiliary classifier in D: the label-conditioned critic plus a class head on the image alone.

G: cdcgan_fashion's ([z, label] -> image). D: [image, label] -> [logit, class_logits]. The logit is
cdcgan_fashion's discriminator (the label as an extra image plane). The class logits come from a narrower tower
(32, 64 filters) that sees the image only, never the label, so it cannot read the answer off its input.
Conditioning "input_aux": D's class head learns the class of real images only (not of G's, which keeps it a plain
classifier of the data), and G is also trained to make its images named as the class it was asked for, weighted
by `cfg.class_weight`. The critic keeps the samples diverse; the class term keeps each class recognisable.
"""

import keras
from keras import layers

from engine.config import Config
from engine.models.cdcgan_fashion import build_generator, critic
from engine.models.family import dropout_rate, register
from engine.models.layers import Dropout

CLASSIFIER_FILTERS = (32, 64)


def classifier_logits(image, cfg: Config):
    """image -> class logits [b, num_classes]: two strided 5x5 convs with LeakyReLU(0.2) and Dropout, Dense."""
    x = image
    for filters in CLASSIFIER_FILTERS:
        x = layers.Conv2D(filters, 5, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
        x = Dropout(dropout_rate(cfg, 0.3))(x)
    return layers.Dense(cfg.num_classes, dtype="float32", name="class_logits")(layers.Flatten()(x))


def build_discriminator(cfg: Config) -> keras.Model:
    """[image [b, 28, 28, 1], label [b]] -> [logit [b, 1], class_logits [b, num_classes]]."""
    image = keras.Input(cfg.image_shape, name="image")
    label = keras.Input((), dtype="int32", name="label")
    outputs = [critic(image, label, cfg), classifier_logits(image, cfg)]
    return keras.Model([image, label], outputs, name="discriminator")


register("cdcgan_fashion_aux", build_generator, build_discriminator, conditioning="input_aux")
