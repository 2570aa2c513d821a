"""The two ways GANs are usually trained in Keras tutorials, written here (Keras 3) as baselines for the engine.

Both train the same networks as the engine on the same objective (non-saturating BCE on logits, Adam), with
alternating updates: D on a concatenated batch of real and generated images, then G through D toward "real".

- `TutorialIdiom`: the `train_on_batch` idiom (Brownlee, Kaggle notebooks): D compiled on its own, a stacked G->D
  model compiled with D frozen; each step `generator.predict`, concatenate, `discriminator.train_on_batch`,
  `gan.train_on_batch` toward ones. Keras 3 snapshots a model's trainable variables when it first traces its
  train function, so setting `discriminator.trainable = False` once, as Keras 2 tutorials do, would leave D's own
  train function with nothing to train (it warns "The model does not have any trainable weights" and D never
  learns). The Keras 3 form of the idiom sets the flag before each of the two calls, as here.
- `FitGAN`: keras-io's `dcgan_overriding_train_step` pattern: a keras.Model whose `train_step` does both updates,
  driven by `fit` (so `jit_compile` and `steps_per_execution` apply). It passes `training=True` to both networks,
  as the engine does (keras-io's networks have no BatchNorm, ours do), and leaves out keras-io's label noise so all
  rows optimise the same losses.
"""

import keras
import numpy as np
import tensorflow as tf

from engine.config import Config


def _bce():
    return keras.losses.BinaryCrossentropy(from_logits=True)


def _adam(cfg: Config):
    return keras.optimizers.Adam(cfg.d_lr, beta_1=cfg.beta1, beta_2=cfg.beta2)


class TutorialIdiom:
    """The `train_on_batch` GAN loop, one `step(real)` per batch of real images (numpy, float32, NHWC)."""

    def __init__(self, generator: keras.Model, discriminator: keras.Model, cfg: Config, *, seed: int = 0):
        self.generator, self.discriminator, self.latent_dim = generator, discriminator, cfg.latent_dim
        self.rng = np.random.default_rng(seed)
        discriminator.compile(optimizer=_adam(cfg), loss=_bce())
        discriminator.trainable = False
        self.gan = keras.Sequential([generator, discriminator], name="stacked_gan")
        self.gan.compile(optimizer=keras.optimizers.Adam(cfg.g_lr, beta_1=cfg.beta1, beta_2=cfg.beta2), loss=_bce())

    def step(self, real: np.ndarray) -> tuple[float, float]:
        """One D update on real + fake, one G update through the frozen D; returns (d_loss, g_loss)."""
        n = len(real)
        z = self.rng.standard_normal((n, self.latent_dim), dtype=np.float32)
        fake = self.generator.predict(z, verbose=0)
        images = np.concatenate([real, fake])
        labels = np.concatenate([np.ones((n, 1), np.float32), np.zeros((n, 1), np.float32)])
        self.discriminator.trainable = True
        d_loss = self.discriminator.train_on_batch(images, labels)
        self.discriminator.trainable = False
        z = self.rng.standard_normal((n, self.latent_dim), dtype=np.float32)
        g_loss = self.gan.train_on_batch(z, np.ones((n, 1), np.float32))
        return float(d_loss), float(g_loss)


class FitGAN(keras.Model):
    """keras-io's GAN with an overridden `train_step`, trained with `fit` on batches of real images."""

    def __init__(self, generator: keras.Model, discriminator: keras.Model, latent_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.generator, self.discriminator, self.latent_dim = generator, discriminator, latent_dim
        self.seed_generator = keras.random.SeedGenerator(1337)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, _bce()

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def train_step(self, real_images):
        n = tf.shape(real_images)[0]
        z = keras.random.normal((n, self.latent_dim), seed=self.seed_generator)
        fake = self.generator(z, training=True)
        images = tf.concat([real_images, fake], axis=0)
        labels = tf.concat([tf.ones((n, 1)), tf.zeros((n, 1))], axis=0)
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(images, training=True))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights, strict=False))

        z = keras.random.normal((n, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            g_loss = self.loss_fn(tf.ones((n, 1)), self.discriminator(self.generator(z, training=True), training=True))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights, strict=False))
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}


def make_fit_gan(generator, discriminator, cfg: Config, *, jit_compile: bool, steps_per_execution: int) -> FitGAN:
    """A compiled FitGAN with the config's optimizers."""
    gan = FitGAN(generator, discriminator, cfg.latent_dim)
    gan.compile(
        d_optimizer=_adam(cfg),
        g_optimizer=keras.optimizers.Adam(cfg.g_lr, beta_1=cfg.beta1, beta_2=cfg.beta2),
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return gan
