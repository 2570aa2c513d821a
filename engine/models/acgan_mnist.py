"""AC-GAN for MNIST (Linder-Norén, Keras-GAN `acgan/acgan.py`): label-conditioned G, D with validity and class heads.

G: z * Embedding(label) -> Dense 7*7*128 -> two UpSampling2D + Conv2D blocks (BN 0.8); D: four 3x3 convs -> two heads.
D's two BatchNorms use batch statistics in D's own updates; the acgan_mnist preset runs them frozen in G's update
(`d_frozen_bn_in_g_step`), as tf.keras 2 runs the `trainable = False` D inside the combined model.
"""

import keras
from keras import layers

from engine.config import Config
from engine.errors import UserError
from engine.models.family import dropout_rate, register
from engine.models.layers import Dropout


def _check(cfg: Config) -> None:
    if cfg.num_classes <= 0:
        raise UserError(f"model {cfg.model!r} is class-conditional: set num_classes > 0 (got {cfg.num_classes})")


def build_generator(cfg: Config) -> keras.Model:
    """[z [b, latent], label int32 [b]] -> image [b, 28, 28, 1]; 857,705 parameters at latent 100, 10 classes.

    Raises:
      UserError: cfg.num_classes is 0.
    """
    _check(cfg)
    h, w, c = cfg.image_shape
    z = keras.Input((cfg.latent_dim,), name="z")
    label = keras.Input((), dtype="int32", name="label")
    # The label scales z elementwise; a scalar label embeds to [b, latent] directly, so no Flatten is needed.
    x = layers.Multiply()([z, layers.Embedding(cfg.num_classes, cfg.latent_dim)(label)])
    x = layers.Dense((h // 4) * (w // 4) * 128, activation="relu")(x)
    x = layers.Reshape((h // 4, w // 4, 128))(x)
    x = layers.BatchNormalization(momentum=0.8)(x)
    x = layers.UpSampling2D()(x)
    x = layers.Conv2D(128, 3, padding="same", activation="relu")(x)
    x = layers.BatchNormalization(momentum=0.8)(x)
    x = layers.UpSampling2D()(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.BatchNormalization(momentum=0.8)(x)
    image = layers.Conv2D(c, 3, padding="same", activation=cfg.output_activation, dtype="float32", name="image")(x)
    return keras.Model([z, label], image, name="generator")


def build_discriminator(cfg: Config) -> keras.Model:
    """image [b, 28, 28, 1] -> [logit [b, 1], class_logits [b, num_classes]]; 120,075 parameters at 10 classes.

    Raises:
      UserError: cfg.num_classes is 0.
    """
    _check(cfg)
    rate = dropout_rate(cfg, 0.25)
    image = keras.Input(cfg.image_shape, name="image")
    x = layers.Conv2D(16, 3, strides=2, padding="same")(image)
    x = layers.LeakyReLU(0.2)(x)
    x = Dropout(rate)(x)
    x = layers.Conv2D(32, 3, strides=2, padding="same")(x)
    x = layers.ZeroPadding2D(((0, 1), (0, 1)))(x)  # 7x7 -> 8x8, so the next stride-2 conv gives 4x4
    x = layers.LeakyReLU(0.2)(x)
    x = Dropout(rate)(x)
    x = layers.BatchNormalization(momentum=0.8)(x)
    x = layers.Conv2D(64, 3, strides=2, padding="same")(x)
    x = layers.LeakyReLU(0.2)(x)
    x = Dropout(rate)(x)
    x = layers.BatchNormalization(momentum=0.8)(x)
    x = layers.Conv2D(128, 3, strides=1, padding="same")(x)
    x = layers.LeakyReLU(0.2)(x)
    x = Dropout(rate)(x)
    x = layers.Flatten()(x)
    logit = layers.Dense(1, dtype="float32", name="logit")(x)
    class_logits = layers.Dense(cfg.num_classes, dtype="float32", name="class_logits")(x)
    return keras.Model(image, [logit, class_logits], name="discriminator")


register("acgan_mnist", build_generator, build_discriminator, conditioning="acgan")
