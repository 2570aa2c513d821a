"""The GAN: one keras.Model owning G, D, both optimizers, an optional EMA of G and the step counter.

`distributed_step` is the paper's step, in cross-replica context: it runs the per-replica phases (gradients, then
updates) with `strategy.run`, so decisions that need the global losses (the balance rule, the divergence guard) are
taken once for all replicas, between the two phases. Nothing here uses numpy or has Python side effects (see
engine.steps).
"""

import keras
import tensorflow as tf

from engine import models
from engine.errors import UserError
from engine.losses import LOSSES
from engine.precision import needs_loss_scaling, policy_scope

SUM = tf.distribute.ReduceOp.SUM
G_SALT = 31  # the salt of the latents of G's fresh draw (see the phases)


def make_optimizer(cfg, lr: float):
    """The configured optimizer; under mixed_float16 wrapped in a dynamic LossScaleOptimizer, which unscales the
    gradients and skips a step whose gradients overflowed (the phases scale the loss with `scale_loss`)."""
    if cfg.optimizer == "adam":
        optimizer = keras.optimizers.Adam(lr, beta_1=cfg.beta1, beta_2=cfg.beta2)
    elif cfg.optimizer == "rmsprop":
        optimizer = keras.optimizers.RMSprop(lr)
    else:
        raise UserError(f"unknown optimizer {cfg.optimizer!r} (valid: adam, rmsprop)")
    if needs_loss_scaling(cfg.precision):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def spectral_normalized(discriminator: keras.Model) -> keras.Model:
    """A copy of `discriminator` with every Conv2D and Dense wrapped in keras.layers.SpectralNormalization."""

    def wrap(layer):
        fresh = layer.__class__.from_config(layer.get_config())
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            return keras.layers.SpectralNormalization(fresh, name=f"sn_{layer.name}")
        return fresh

    return keras.models.clone_model(discriminator, clone_function=wrap)


class GAN(keras.Model):
    """Generator, discriminator, their optimizers, an optional EMA generator and one explicit step counter."""

    def __init__(self, cfg, **kwargs):
        super().__init__(name="gan", **kwargs)
        self.cfg = cfg
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

    # ---- building blocks, called inside the per-replica phases ----

    def sample_latent(self, batch, seed):
        """Latent batch from the configured distribution; `seed` is a stateless [2] int seed."""
        shape = [batch, self.cfg.latent_dim]
        if self.cfg.latent_distribution == "uniform":
            return tf.random.stateless_uniform(shape, seed)
        return tf.random.stateless_normal(shape, seed)

    def _seed(self, salt):
        # Derived from (config seed, step, replica, salt): deterministic, and nothing to checkpoint.
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        return tf.stack(
            [tf.cast(self.cfg.seed, tf.int64), self.step_counter * 1024 + tf.cast(replica, tf.int64) * 64 + salt]
        )

    def generate(self, batch, salt, training=True, factor=1):
        """Fakes for this replica's batch (`factor` per real image): (images, their labels); labels are drawn
        uniformly when conditional."""
        n = tf.shape(batch["image"])[0] * factor
        z = self.sample_latent(n, self._seed(salt))
        if self.conditioning == "none":
            return self.generator(z, training=training), None
        labels = tf.random.stateless_uniform([n], self._seed(salt + 32), maxval=self.cfg.num_classes, dtype=tf.int32)
        return self.generator([z, labels], training=training), labels

    def discriminate(self, images, labels):
        """(validity logits [b, 1], class logits [b, classes] or None)."""
        if self.conditioning == "acgan":
            logits, class_logits = self.discriminator(images, training=True)
            return logits, class_logits
        if self.conditioning == "input":
            return self.discriminator([images, labels], training=True), None
        return self.discriminator(images, training=True), None

    def _mean(self, per_example, global_batch_size):
        return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)

    def _l2(self, network):
        if not self.cfg.l2:
            return 0.0
        # Gradients are summed over replicas, so each replica adds its share of the penalty.
        replicas = tf.distribute.get_replica_context().num_replicas_in_sync
        squares = [tf.reduce_sum(tf.square(w)) for w in network.trainable_variables if len(w.shape) > 1]
        return self.cfg.l2 * tf.add_n(squares) / tf.cast(replicas, tf.float32)

    def _class_loss(self, class_logits, labels, global_batch_size):
        per = tf.keras.losses.sparse_categorical_crossentropy(labels, class_logits, from_logits=True)
        return self._mean(per, global_batch_size)

    def _accuracy(self, logits, real: bool, global_batch_size):
        """This replica's share of the fraction of images D calls right (logit > 0 means "real")."""
        flat = tf.reshape(tf.cast(logits, tf.float32), [-1])
        return self._mean(tf.cast(flat > 0 if real else flat < 0, tf.float32), global_batch_size)

    def _gradient_penalty(self, real, fake, labels, global_batch_size):
        # WGAN-GP: (||grad D(x_hat)|| - 1)^2 at x_hat on lines between real and fake; alpha ~ U[0, 1].
        alpha = tf.random.stateless_uniform([tf.shape(real)[0], 1, 1, 1], self._seed(63))
        x_hat = alpha * real + (1.0 - alpha) * fake
        with tf.GradientTape() as tape:
            tape.watch(x_hat)
            logits, _ = self.discriminate(x_hat, labels)
        grads = tape.gradient(logits, x_hat)
        norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)
        return self.cfg.gp_weight * self._mean(tf.square(norms - 1.0), global_batch_size)

    def side_loss(self, images, labels, real: bool, global_batch_size, out=None):
        """D's loss on one side alone (the real batch, or generated images) and its accuracy there; `out`: D's
        outputs on `images` when the caller has them."""
        logits, classes = out or self.discriminate(images, labels)
        part = self.adversarial.real if real else self.adversarial.fake
        target = self.cfg.real_label if real else self.cfg.fake_label
        loss = self._mean(part(logits, target), global_batch_size)
        if classes is not None:  # ACGAN: D also names the class of real and of generated images
            loss += self._class_loss(classes, labels, global_batch_size)
        return loss, self._accuracy(logits, real, global_batch_size)

    def d_loss(self, batch, fake, fake_labels, global_batch_size, fake_out=None):
        """(D's loss, its accuracy [on real, on fake]); `fake_out`: D's outputs on `fake` when the caller already
        has them (the simultaneous step). The L2 penalty is not in it (see `penalised`)."""
        real, labels = batch["image"], batch["label"]
        real_loss, real_acc = self.side_loss(real, labels, True, global_batch_size)
        fake_loss, fake_acc = self.side_loss(fake, fake_labels, False, global_batch_size, fake_out)
        loss = self.adversarial.weight * (real_loss + fake_loss)
        if self.adversarial.gradient_penalty:
            loss += self._gradient_penalty(
                real, fake, labels if self.conditioning == "input" else None, global_batch_size
            )
        return loss, tf.stack([real_acc, fake_acc])

    def g_loss(self, fake, fake_labels, global_batch_size, fake_out=None):
        fake_logits, fake_classes = fake_out or self.discriminate(fake, fake_labels)
        loss = self._mean(self.adversarial.g(fake_logits), global_batch_size)
        if fake_classes is not None:
            loss += self._class_loss(fake_classes, fake_labels, global_batch_size)
        return loss

    def penalised(self, loss, network, optimizer):
        """What the optimizer minimises: the loss plus the network's L2 penalty, scaled for mixed_float16."""
        return optimizer.scale_loss(loss + self._l2(network))

    # ---- per-replica phases: run with strategy.run ----
    # Salts pick the latents of a phase: D's k-th update of a step draws with salt k (1..n_critic), G's fresh draw
    # uses G_SALT; G reuses D's latents with salt 1. Labels add 32, the gradient penalty uses 63.

    def both_gradients(self, batch, global_batch_size):
        """Simultaneous order (TF DCGAN tutorial): one forward pass, two tapes, gradients for both networks."""
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake, fake_labels = self.generate(batch, salt=0)
            # One D pass on the fakes feeds both losses, as in TF's tutorial: 3G + 7D forward-equivalents per
            # image instead of 3G + 8D (benchmarks/flops.py), ~9% of dcgan_fashion's step.
            fake_out = self.discriminate(fake, fake_labels)
            d_loss, accuracy = self.d_loss(batch, fake, fake_labels, global_batch_size, fake_out)
            g_loss = self.g_loss(fake, fake_labels, global_batch_size, fake_out)
            d_scaled = self.penalised(d_loss, self.discriminator, self.d_optimizer)
            g_scaled = self.penalised(g_loss, self.generator, self.g_optimizer)
        return (
            d_loss,
            g_loss,
            accuracy,
            d_tape.gradient(d_scaled, self.discriminator.trainable_variables),
            g_tape.gradient(g_scaled, self.generator.trainable_variables),
        )

    def _d_fakes(self, batch, salt):
        # Keras tutorials draw D's fakes with `G.predict(z)` / `G(z)`: G's BatchNorm then runs in inference mode.
        fake, fake_labels = self.generate(batch, salt=salt, training=not self.cfg.d_fakes_inference)
        return tf.stop_gradient(fake), fake_labels

    def d_gradients(self, batch, global_batch_size, salt):
        """One D update on the real batch and fresh fakes together."""
        fake, fake_labels = self._d_fakes(batch, salt)
        with tf.GradientTape() as tape:
            d_loss, accuracy = self.d_loss(batch, fake, fake_labels, global_batch_size)
            scaled = self.penalised(d_loss, self.discriminator, self.d_optimizer)
        return d_loss, accuracy, tape.gradient(scaled, self.discriminator.trainable_variables)

    def d_side_gradients(self, batch, global_batch_size, salt):
        """One D update on one side alone: the real batch when `salt` is 0, else fakes drawn with `salt`."""
        images, labels = (batch["image"], batch["label"]) if salt == 0 else self._d_fakes(batch, salt)
        with tf.GradientTape() as tape:
            loss, accuracy = self.side_loss(images, labels, salt == 0, global_batch_size)
            scaled = self.penalised(loss, self.discriminator, self.d_optimizer)
        return loss, accuracy, tape.gradient(scaled, self.discriminator.trainable_variables)

    def g_gradients(self, batch, global_batch_size):
        cfg = self.cfg
        with tf.GradientTape() as tape:
            fake, fake_labels = self.generate(
                batch, salt=1 if cfg.g_reuses_noise else G_SALT, factor=cfg.g_batch_factor
            )
            g_loss = self.g_loss(fake, fake_labels, global_batch_size * cfg.g_batch_factor)
            scaled = self.penalised(g_loss, self.generator, self.g_optimizer)
        return g_loss, tape.gradient(scaled, self.generator.trainable_variables)

    def current_losses(self, batch, global_batch_size):
        """(d_loss, g_loss) on the step's latents before any update: what the balance rule of the alternating
        order compares (Mohr: losses first, then D's update, then G's against the updated D, same latents)."""
        fake, fake_labels = self.generate(batch, salt=1)
        fake_out = self.discriminate(fake, fake_labels)
        d_loss, _ = self.d_loss(batch, fake, fake_labels, global_batch_size, fake_out)
        return d_loss, self.g_loss(fake, fake_labels, global_batch_size, fake_out)

    def apply_d(self, grads):
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables, strict=False))

    def apply_g(self, grads):
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables, strict=False))

    def apply_both(self, d_grads, g_grads):
        self.apply_d(d_grads)
        self.apply_g(g_grads)

    # ---- the divergence guard: a phase's non-finite flag, and undoing what a skipped step's forward pass moved ----

    def guarded(self, phase):
        """`phase` (a gradients phase) returning also (1.0 if anything it checks is non-finite on this replica, the
        statistics as they were before its forward pass)."""

        def guarded_phase(*args):
            before = [tf.identity(v) for v in self.statistics]  # read before the forward pass moves them
            out = phase(*args)
            return out, self._nonfinite(out), before

        guarded_phase.__name__ = f"guarded_{phase.__name__}"  # engine.steps caches compiled phases by name
        return guarded_phase

    def _nonfinite(self, out) -> tf.Tensor:
        losses = [v for v in out if not isinstance(v, (list, tuple))]
        grads = [g for v in out if isinstance(v, (list, tuple)) for g in v if g is not None]
        # With loss scaling, overflowing scaled gradients are the LossScaleOptimizer's to skip (it lowers the scale).
        scaled = isinstance(self.d_optimizer, keras.optimizers.LossScaleOptimizer)
        checked = losses if scaled else losses + grads
        finite = tf.reduce_all(tf.stack([tf.reduce_all(tf.math.is_finite(t)) for t in checked]))
        return 1.0 - tf.cast(finite, tf.float32)

    def restore_statistics(self, before, ok):
        # An assign through tf.where rather than inside a tf.cond: a replica-context update cannot sit in a cond.
        for v, old in zip(self.statistics, before, strict=False):
            v.assign(tf.where(ok, v, old))

    # ---- the step, in cross-replica context ----

    def distributed_step(self, strategy, batch, global_batch_size, compiled=lambda fn: fn):
        """One GAN step over all replicas; returns the global mean losses, `nonfinite` (1.0 if the step was skipped)
        and, with the balance rule, its skip flags.

        Each update is two phases: gradients on every replica, then the update, applied only if every replica's
        losses and gradients are finite and the balance rule allows it: a decision taken once, in cross-replica
        context, so all replicas take the same branch (an update inside tf.cond in replica context cannot
        all-reduce). A skipped update leaves weights, optimizer state and statistics as they were; the step counter
        still advances (the batch was consumed) and the skip is counted.

        Args:
          strategy: the strategy `batch` was distributed by.
          batch: per-replica {"image", "label"} values.
          global_batch_size: images per step summed over replicas (losses are averaged over it).
          compiled: maps a per-replica phase to the function to run (XLA-compiled ones, in engine.steps).
        """
        cfg = self.cfg

        def run(fn, *args):
            return strategy.run(compiled(fn), args=args)

        def total(value):
            return strategy.reduce(SUM, value, axis=None)

        def gradients(phase, *args):
            out, bad, before = run(self.guarded(phase), *args)
            ok = tf.equal(total(bad), 0.0)
            if self.statistics:
                run(self.restore_statistics, before, ok)
            return out, ok

        def balance(d_loss, g_loss):
            """(apply D's update?, apply G's?): the balance rule skips the update of the network that is ahead,
            judged on the global losses; without the rule both always apply."""
            apply_d = not cfg.balance_d or tf.logical_not(d_loss * cfg.balance_d < g_loss)
            apply_g = not cfg.balance_g or tf.logical_not(g_loss * cfg.balance_g < d_loss)
            if cfg.balance_d or cfg.balance_g:
                out["d_skipped"] = 1.0 - tf.cast(apply_d, tf.float32)
                out["g_skipped"] = 1.0 - tf.cast(apply_g, tf.float32)
            return apply_d, apply_g

        def both(a, b):
            return tf.logical_and(a, b)

        out = {}
        if cfg.update_order == "simultaneous":
            (d_loss, g_loss, accuracy, d_grads, g_grads), ok = gradients(self.both_gradients, batch, global_batch_size)
            out["d_loss"], out["g_loss"], accuracy = total(d_loss), total(g_loss), total(accuracy)
            apply_d, apply_g = balance(out["d_loss"], out["g_loss"])
            if cfg.balance_d or cfg.balance_g:
                self._maybe(both(ok, apply_d), lambda d_grads=d_grads: run(self.apply_d, d_grads))
                self._maybe(both(ok, apply_g), lambda: run(self.apply_g, g_grads))
            else:
                self._maybe(ok, lambda: run(self.apply_both, d_grads, g_grads))
        else:
            # Alternating: n_critic D updates on fresh fakes, then a G update against the updated D; each guarded.
            oks, apply_d, apply_g = [], True, True
            if cfg.balance_d or cfg.balance_g:
                (d_now, g_now), ok = gradients(self.current_losses, batch, global_batch_size)
                out["d_loss"], out["g_loss"] = total(d_now), total(g_now)
                apply_d, apply_g = balance(out["d_loss"], out["g_loss"])
                oks.append(ok)
            for i in range(cfg.n_critic):
                if cfg.d_split_real_fake:  # two updates, as two `train_on_batch` calls: real, then fakes
                    sides = []
                    for salt in (0, i + 1):
                        (loss, acc, d_grads), ok = gradients(self.d_side_gradients, batch, global_batch_size, salt)
                        self._maybe(both(ok, apply_d), lambda d_grads=d_grads: run(self.apply_d, d_grads))
                        sides.append((total(loss), total(acc)))
                        oks.append(ok)
                    (real_loss, real_acc), (fake_loss, fake_acc) = sides
                    d_loss, accuracy = self.adversarial.weight * (real_loss + fake_loss), tf.stack([real_acc, fake_acc])
                else:
                    (d_loss, accuracy, d_grads), ok = gradients(self.d_gradients, batch, global_batch_size, i + 1)
                    self._maybe(both(ok, apply_d), lambda d_grads=d_grads: run(self.apply_d, d_grads))
                    d_loss, accuracy = total(d_loss), total(accuracy)
                    oks.append(ok)
            (g_loss, g_grads), ok = gradients(self.g_gradients, batch, global_batch_size)
            self._maybe(both(ok, apply_g), lambda: run(self.apply_g, g_grads))
            out.setdefault("d_loss", d_loss)
            out.setdefault("g_loss", total(g_loss))
            ok = tf.reduce_all(tf.stack(oks + [ok]))
        out["d_acc_real"], out["d_acc_fake"] = accuracy[0], accuracy[1]
        skipped = tf.cast(tf.logical_not(ok), tf.int64)
        self.skipped_steps.assign_add(skipped)
        self.consecutive_skips.assign((self.consecutive_skips + 1) * skipped)
        out["nonfinite"] = tf.cast(skipped, tf.float32)
        self.update_ema()
        self.step_counter.assign_add(1)
        return out

    @staticmethod
    def _maybe(condition, update) -> None:
        """Runs `update` when `condition` (a scalar bool tensor) holds."""

        def do():
            update()
            return tf.constant(True)

        tf.cond(condition, do, lambda: tf.constant(False))

    def update_ema(self):
        if self.generator_ema is None:
            return
        decay = tf.constant(self.cfg.ema_decay, tf.float32)
        if self.cfg.ema_warmup:  # as tf.train.ExponentialMovingAverage with num_updates
            t = tf.cast(self.step_counter, tf.float32)
            decay = tf.minimum(decay, (1.0 + t) / (10.0 + t))
        for ema, weight in zip(self.generator_ema.weights, self.generator.weights, strict=False):
            ema.assign(decay * ema + (1.0 - decay) * weight)
