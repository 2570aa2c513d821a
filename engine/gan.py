"""The GAN: one keras.Model owning G, D, both optimizers and the step counter; its step reads like the paper."""

import keras
import tensorflow as tf

from engine import models
from engine.losses import LOSSES


def make_optimizer(cfg, lr: float):
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(lr, beta_1=cfg.beta1, beta_2=cfg.beta2)
    if cfg.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(lr)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r} (valid: adam, rmsprop)")


class GAN(keras.Model):
    """Generator, discriminator, their optimizers and one explicit step counter.

    `replica_step(real, global_batch_size)` is the per-replica update, meant to run under `strategy.run` inside a
    `tf.function` (see engine.steps); it uses no numpy and has no Python side effects.
    """

    def __init__(self, cfg, **kwargs):
        super().__init__(name="gan", **kwargs)
        self.cfg = cfg
        self.generator = models.build_generator(cfg)
        self.discriminator = models.build_discriminator(cfg)
        self.g_optimizer = make_optimizer(cfg, cfg.g_lr)
        self.d_optimizer = make_optimizer(cfg, cfg.d_lr)
        self.adversarial = LOSSES.get_or_fail(cfg.loss)
        # Two optimizers keep two `iterations` counters; this one is the run's step.
        self.step_counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        # Build optimizer slots now so a checkpoint restores them eagerly rather than on first apply.
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def sample_latent(self, batch, seed):
        """Latent batch from the configured distribution; `seed` is a stateless [2] int seed."""
        shape = [batch, self.cfg.latent_dim]
        if self.cfg.latent_distribution == "uniform":
            return tf.random.stateless_uniform(shape, seed)
        return tf.random.stateless_normal(shape, seed)

    def _latent_seed(self, salt):
        # Derived from (config seed, step, replica, salt): deterministic, and nothing to checkpoint.
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        return tf.stack([tf.cast(self.cfg.seed, tf.int64),
                         self.step_counter * 1024 + tf.cast(replica, tf.int64) * 4 + salt])

    def replica_step(self, batch, global_batch_size):
        """One GAN update on this replica's slice of the batch.

        Args:
          batch: {"image": real images [per_replica_batch, H, W, C] in the output range, "label": int32}.
          global_batch_size: batch size summed over replicas; losses are averaged over it so that the
            optimizers' all-reduce (a sum) yields the gradient of the global mean loss.
        Returns:
          dict of this replica's share of the mean losses (sum them over replicas for the global value).
        """
        real = batch["image"]
        batch = tf.shape(real)[0]

        def mean(per_example):
            return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)

        if self.cfg.update_order == "simultaneous":
            # TF DCGAN tutorial: one forward pass, two tapes, both networks updated from the same fakes.
            z = self.sample_latent(batch, self._latent_seed(0))
            with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
                fake = self.generator(z, training=True)
                real_logits = self.discriminator(real, training=True)
                fake_logits = self.discriminator(fake, training=True)
                d_loss = mean(self.adversarial.d(real_logits, fake_logits))
                g_loss = mean(self.adversarial.g(fake_logits))
            self._apply(d_tape, d_loss, self.discriminator, self.d_optimizer)
            self._apply(g_tape, g_loss, self.generator, self.g_optimizer)
        else:
            # Alternating: a D step on fresh fakes, then a G step against the updated D.
            z = self.sample_latent(batch, self._latent_seed(1))
            fake = self.generator(z, training=True)
            with tf.GradientTape() as d_tape:
                real_logits = self.discriminator(real, training=True)
                fake_logits = self.discriminator(fake, training=True)
                d_loss = mean(self.adversarial.d(real_logits, fake_logits))
            self._apply(d_tape, d_loss, self.discriminator, self.d_optimizer)
            z = self.sample_latent(batch, self._latent_seed(2))
            with tf.GradientTape() as g_tape:
                fake_logits = self.discriminator(self.generator(z, training=True), training=True)
                g_loss = mean(self.adversarial.g(fake_logits))
            self._apply(g_tape, g_loss, self.generator, self.g_optimizer)
        return {"d_loss": d_loss, "g_loss": g_loss}

    @staticmethod
    def _apply(tape, loss, network, optimizer):
        variables = network.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
