"""The GAN: one keras.Model owning G, D, both optimizers, an optional EMA of G and the step counter.

The model holds the state and the building blocks (draw latents, generate, discriminate); what each network
minimises is engine.step.objectives, the per-replica phases engine.step.phases, and the step itself, in cross-replica
context, engine.step.update_orders. Nothing here uses numpy or has Python side effects (see engine.step.traced).
"""

import contextlib

import keras
import tensorflow as tf

from engine import models
from engine.config import Config, augment_policy
from engine.errors import UserError
from engine.step.augment import augment
from engine.step.losses import LOSSES
from engine.step.optimizers import make_optimizer
from engine.step.precision import policy_scope

# A draw's seed is (config seed, step * STEP_STRIDE + replica * REPLICA_STRIDE + salt): each draw of a step
# (engine.step.phases names them) has its own salt below LABEL_SALT_OFFSET, its labels that salt + LABEL_SALT_OFFSET.
LABEL_SALT_OFFSET = 32
REPLICA_STRIDE = 64  # salts stay below 64, so two replicas' draws never share a seed
STEP_STRIDE = 1024  # room for 16 replicas per step
AUGMENT_SALT = 30  # the augmentation of a step's D calls: folded with 1 for real images, 0 for generated ones


def spectral_normalized(discriminator: keras.Model) -> keras.Model:
    """A copy of `discriminator` with every Conv2D and Dense wrapped in keras.layers.SpectralNormalization."""

    def wrap(layer):
        fresh = layer.__class__.from_config(layer.get_config())
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            return keras.layers.SpectralNormalization(fresh, name=f"sn_{layer.name}")
        return fresh

    return keras.models.clone_model(discriminator, clone_function=wrap)


class FrozenBatchNorm:
    """`with frozen:` calls of `model` run its BatchNormalization layers on their moving statistics and leave them
    unchanged, even under `training=True` (Keras 3's BatchNormalization uses batch statistics only when `training
    and trainable`), while Dropout still drops: tf.keras 2's `trainable = False` model inside a stacked one. Only the
    layers' Python `trainable` flags flip, while a call is traced, and flip back; the depth count keeps them flipped
    until the last replica's call has left."""

    def __init__(self, model: keras.Model):
        def walk(layer):
            yield layer
            for sub in getattr(layer, "layers", ()):
                yield from walk(sub)

        self.layers = [x for x in walk(model) if isinstance(x, keras.layers.BatchNormalization) and x.trainable]
        self.depth = 0

    def __enter__(self):
        self.depth += 1
        for layer in self.layers:
            layer.trainable = False

    def __exit__(self, *exc):
        self.depth -= 1
        if not self.depth:
            for layer in self.layers:
                layer.trainable = True


class GAN(keras.Model):
    """Generator, discriminator, their optimizers, an optional EMA generator and one explicit step counter."""

    def __init__(self, cfg: Config, **kwargs):
        super().__init__(name="gan", **kwargs)
        self.cfg = cfg
        self.global_batch_size = cfg.batch_size  # images per step over all replicas: what losses average over
        family = models.MODELS.get_or_fail(cfg.model)
        self.conditioning = family.conditioning
        if self.conditioning != "none" and not cfg.num_classes:
            raise UserError(f"model {cfg.model} is class-conditional: set num_classes (e.g. --set num_classes=10)")
        self.adversarial = LOSSES.get_or_fail(cfg.loss)
        if (cfg.real_label, cfg.fake_label) != (1.0, 0.0) and not self.adversarial.uses_targets:
            raise UserError(
                f"label smoothing (real_label/fake_label) has no meaning for loss={cfg.loss}; "
                "use bce or lsgan, or leave the labels at 1 and 0"
            )
        # The policy holds only while the networks are built: exports and anything built later stay float32.
        with policy_scope(cfg.precision):
            self.generator = family.build_generator(cfg)
            discriminator = family.build_discriminator(cfg)
            self.discriminator = spectral_normalized(discriminator) if cfg.spectral_norm else discriminator
            self.generator_ema = None
            if cfg.ema_decay:
                self.generator_ema = keras.models.clone_model(self.generator)
                self.generator_ema.set_weights(self.generator.get_weights())
        self.g_optimizer = make_optimizer(cfg, cfg.g_lr)
        self.d_optimizer = make_optimizer(cfg, cfg.d_lr)
        # Two optimizers keep two `iterations` counters; this one is the run's step.
        self.step_counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        # The divergence guard's counts: steps skipped for a non-finite loss or gradient, in all and in a row.
        self.skipped_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped_steps")
        self.consecutive_skips = tf.Variable(0, dtype=tf.int64, trainable=False, name="consecutive_skips")
        # DiffAugment's transforms and their probability per image (moved by ADA when cfg.ada_target > 0).
        self.augment_policy = augment_policy(cfg.augment)
        self.augment_p = tf.Variable(cfg.augment_p, dtype=tf.float32, trainable=False, name="augment_p")
        # LeCam's moving averages of D's mean output on real and on generated images (cfg.lecam_weight > 0).
        self.lecam_real = tf.Variable(0.0, dtype=tf.float32, trainable=False, name="lecam_real")
        self.lecam_fake = tf.Variable(0.0, dtype=tf.float32, trainable=False, name="lecam_fake")
        self.frozen_d_batchnorm = FrozenBatchNorm(self.discriminator)  # for G's update (d_frozen_bn_in_g_step)
        if cfg.d_one_pass and (cfg.spectral_norm or self.frozen_d_batchnorm.layers):
            raise UserError(
                f"d_one_pass needs a D without batch statistics, and {cfg.model}'s D "
                f"{'is spectral-normalized' if cfg.spectral_norm else 'has BatchNormalization'}: "
                "leave d_one_pass off (--set d_one_pass=false)"
            )
        # Build optimizer slots now so a checkpoint restores them eagerly rather than on first apply.
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def sampler(self) -> keras.Model:
        """The generator to sample and export: the EMA one when EMA is on."""
        return self.generator_ema or self.generator

    @property
    def statistics(self) -> list:
        """Float state the forward pass updates (BatchNorm moving averages, spectral-norm vectors) in G and D."""
        return [
            v
            for net in (self.generator, self.discriminator)
            for v in net.non_trainable_variables
            if "float" in str(v.dtype)
        ]

    @property
    def rng_states(self) -> list:
        """Keras SeedGenerator states (Dropout masks) of every network: Keras's checkpoint tracking skips them."""
        nets = [self.generator, self.discriminator] + ([self.generator_ema] if self.generator_ema else [])
        return [v for net in nets for v in net.non_trainable_variables if "int" in str(v.dtype)]

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    # ---- building blocks, called inside the per-replica phases (engine.step.phases) ----

    def sample_latent(self, batch, seed):
        """Latent batch from the configured distribution; `seed` is a stateless [2] int seed."""
        shape = [batch, self.cfg.latent_dim]
        if self.cfg.latent_distribution == "uniform":
            return tf.random.stateless_uniform(shape, seed)
        return tf.random.stateless_normal(shape, seed)

    def seed(self, salt):
        """The stateless seed of draw `salt` of this step on this replica: derived from (config seed, step, replica,
        salt), so deterministic and nothing to checkpoint."""
        replica = tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group, tf.int64)
        return tf.stack(
            [tf.cast(self.cfg.seed, tf.int64), self.step_counter * STEP_STRIDE + replica * REPLICA_STRIDE + salt]
        )

    def generate(self, batch, salt, training=True, factor=1):
        """Fakes for this replica's batch (`factor` per real image): (images, their labels); labels are drawn
        uniformly when conditional."""
        n = tf.shape(batch["image"])[0] * factor
        z = self.sample_latent(n, self.seed(salt))
        if self.conditioning == "none":
            return self.generator(z, training=training), None
        labels = tf.random.stateless_uniform(
            [n], self.seed(salt + LABEL_SALT_OFFSET), maxval=self.cfg.num_classes, dtype=tf.int32
        )
        return self.generator([z, labels], training=training), labels

    def discriminate(self, images, labels, *, real=False, frozen_bn=False):
        """(validity logits [b, 1], class logits [b, classes] or None). With augmentation on, D sees the images
        augmented (`real` picks the draw: real and generated images of a step get independent transforms).
        `frozen_bn`: D's BatchNorm on its moving statistics, left unchanged (FrozenBatchNorm)."""
        inputs = self._d_inputs(self._seen(images, real), labels)
        with self.frozen_d_batchnorm if frozen_bn else contextlib.nullcontext():
            return self._d_outputs(self.discriminator(inputs, training=True))

    def discriminate_pair(self, real, real_labels, fake, fake_labels):
        """(D's outputs on `real`, on `fake`), each as `discriminate` returns them, from one call of D on both
        batches together (`d_one_pass`: fewer, larger kernels). Each side is augmented with its own draw first, so
        the outputs equal two calls' for a D without batch statistics (GAN.__init__ refuses the others)."""
        n = tf.shape(real)[0]
        images = tf.concat(
            [tf.cast(self._seen(real, True), tf.float32), tf.cast(self._seen(fake, False), tf.float32)], 0
        )
        labels = tf.concat([real_labels, fake_labels], 0) if self.conditioning in models.LABEL_FED_TO_D else None
        logits, classes = self._d_outputs(self.discriminator(self._d_inputs(images, labels), training=True))
        halves = [(None, None) if x is None else (x[:n], x[n:]) for x in (logits, classes)]
        return (halves[0][0], halves[1][0]), (halves[0][1], halves[1][1])

    def _seen(self, images, real):
        """`images` as D sees them: augmented when augmentation is on (`real` picks the draw, so real and generated
        images of a step get independent transforms)."""
        if not self.augment_policy:
            return images
        seed = tf.random.experimental.stateless_fold_in(self.seed(AUGMENT_SALT), int(real))
        return augment(images, self.augment_policy, self.augment_p, seed)

    def _d_inputs(self, images, labels):
        return [images, labels] if self.conditioning in models.LABEL_FED_TO_D else images

    def _d_outputs(self, out):
        """D's raw output as (validity logits, class logits or None)."""
        if self.conditioning in models.CLASS_HEAD:
            logits, class_logits = out
            return logits, class_logits
        return out, None

    def adapt_augmentation(self, accuracy_real, ok):
        """ADA: moves augment_p by D's mean sign on real images (2 * accuracy - 1) this step, when the step applied."""
        if not self.cfg.ada_target:
            return
        from engine.step.augment import adapt

        cfg = self.cfg
        p = adapt(
            self.augment_p,
            2.0 * accuracy_real - 1.0,
            target=cfg.ada_target,
            images=cfg.batch_size,
            speed_images=cfg.ada_kimg * 1000.0,
        )
        self.augment_p.assign(tf.where(ok, p, self.augment_p))

    def track_outputs(self, real_mean, fake_mean, ok):
        """LeCam: moves the moving averages of D's mean output on real and generated images, when the step applied."""
        decay = self.cfg.lecam_decay
        for average, now in ((self.lecam_real, real_mean), (self.lecam_fake, fake_mean)):
            average.assign(tf.where(ok, decay * average + (1.0 - decay) * now, average))

    def update_ema(self):
        if self.generator_ema is None:
            return
        decay = tf.constant(self.cfg.ema_decay, tf.float32)
        if self.cfg.ema_warmup:  # as tf.train.ExponentialMovingAverage with num_updates
            t = tf.cast(self.step_counter, tf.float32)
            decay = tf.minimum(decay, (1.0 + t) / (10.0 + t))
        for ema, weight in zip(self.generator_ema.weights, self.generator.weights, strict=False):
            ema.assign(decay * ema + (1.0 - decay) * weight)
