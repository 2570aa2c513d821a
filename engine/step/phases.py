"""The per-replica phases of a step: each draws its fakes, opens its tape(s) and returns losses and gradients.

Each function takes the GAN first and runs on every replica through `strategy.run` (engine.step.update_orders decides,
in cross-replica context, which updates to apply). Seed salts pick the draws of a phase, so no two draws of one step
share a random stream: D's k-th update of a step (k = 1..n_critic) draws its fakes with salt k.
"""

import tensorflow as tf

from engine.step import objectives as obj

SIMULTANEOUS_SALT = 0  # the one draw of the simultaneous step
REAL_SIDE = 0  # d_side_gradients on the real batch (a fake side is drawn with its critic salt, >= 1)
G_SALT = 31  # G's own fresh draw in the alternating order
REUSED_SALT = 1  # G reusing the latents of D's first update (g_reuses_noise)


def both_gradients(gan, batch):
    """Simultaneous order (TF DCGAN tutorial): one forward pass, two tapes, gradients for both networks."""
    with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
        fake, fake_labels = gan.generate(batch, salt=SIMULTANEOUS_SALT)
        # One D pass on the fakes feeds both losses, as in TF's tutorial: 3G + 7D forward-equivalents per image
        # instead of 3G + 8D (benchmarks/flops.py), ~9% of dcgan_fashion's step.
        real_out, fake_out = d_outputs(gan, batch, fake, fake_labels)
        d_loss, accuracy = obj.d_loss(gan, batch, fake, fake_labels, fake_out, real_out)
        g_loss = obj.g_loss(gan, fake, fake_labels, fake_out)
        d_scaled = obj.penalised(gan, d_loss, gan.discriminator, gan.d_optimizer)
        g_scaled = obj.penalised(gan, g_loss, gan.generator, gan.g_optimizer)
    return (
        d_loss,
        g_loss,
        accuracy,
        d_tape.gradient(d_scaled, gan.discriminator.trainable_variables),
        g_tape.gradient(g_scaled, gan.generator.trainable_variables),
    )


def d_outputs(gan, batch, fake, fake_labels):
    """(D's outputs on the real batch or None, D's outputs on `fake`): one call of D on both when `d_one_pass`, else
    the fakes' alone (the real batch's then come from objectives.d_loss)."""
    if gan.cfg.d_one_pass:
        return gan.discriminate_pair(batch["image"], batch["label"], fake, fake_labels)
    return None, gan.discriminate(fake, fake_labels)


def d_fakes(gan, batch, salt):
    """Fakes for a D update, without gradient to G. Keras tutorials draw them with `G.predict(z)` / `G(z)`: G's
    BatchNorm then runs in inference mode (`d_fakes_inference`)."""
    fake, fake_labels = gan.generate(batch, salt=salt, training=not gan.cfg.d_fakes_inference)
    return tf.stop_gradient(fake), fake_labels


def d_gradients(gan, batch, salt):
    """One D update on the real batch and fresh fakes together."""
    fake, fake_labels = d_fakes(gan, batch, salt)
    with tf.GradientTape() as tape:
        one_pass = gan.cfg.d_one_pass  # else objectives.d_loss calls D on each side, the real batch first
        real_out, fake_out = d_outputs(gan, batch, fake, fake_labels) if one_pass else (None, None)
        d_loss, accuracy = obj.d_loss(gan, batch, fake, fake_labels, fake_out, real_out)
        scaled = obj.penalised(gan, d_loss, gan.discriminator, gan.d_optimizer)
    return d_loss, accuracy, tape.gradient(scaled, gan.discriminator.trainable_variables)


def d_side_gradients(gan, batch, salt):
    """One D update on one side alone: the real batch when `salt` is REAL_SIDE, else fakes drawn with `salt`."""
    real = salt == REAL_SIDE
    images, labels = (batch["image"], batch["label"]) if real else d_fakes(gan, batch, salt)
    with tf.GradientTape() as tape:
        loss, accuracy = obj.side_loss(gan, images, labels, real)
        scaled = obj.penalised(gan, loss, gan.discriminator, gan.d_optimizer)
    return loss, accuracy, tape.gradient(scaled, gan.discriminator.trainable_variables)


def g_gradients(gan, batch):
    """One G update against D as it is now, on `g_batch_factor` fakes per real image."""
    factor = gan.cfg.g_batch_factor
    with tf.GradientTape() as tape:
        salt = REUSED_SALT if gan.cfg.g_reuses_noise else G_SALT
        fake, fake_labels = gan.generate(batch, salt=salt, factor=factor)
        # d_frozen_bn_in_g_step: D's BatchNorm as in a tf.keras 2 stacked model with D frozen (moving statistics)
        fake_out = gan.discriminate(fake, fake_labels, frozen_bn=gan.cfg.d_frozen_bn_in_g_step)
        g_loss = obj.g_loss(gan, fake, fake_labels, fake_out, batch_size=gan.global_batch_size * factor)
        scaled = obj.penalised(gan, g_loss, gan.generator, gan.g_optimizer)
    return g_loss, tape.gradient(scaled, gan.generator.trainable_variables)


def r1_gradients(gan, batch):
    """Lazy R1 on the real batch (engine.step.objectives.r1_penalty): the penalty and D's gradients of it, a
    second-order gradient through D (and through the augmentation, when on: the gradient is taken at the
    un-augmented images)."""
    real = tf.cast(batch["image"], tf.float32)
    with tf.GradientTape() as tape:
        with tf.GradientTape() as inner:
            inner.watch(real)
            logits, _ = gan.discriminate(real, batch["label"], real=True)
            total = tf.reduce_sum(tf.cast(logits, tf.float32))
        penalty = obj.r1_penalty(gan, inner.gradient(total, real))
        scaled = gan.d_optimizer.scale_loss(penalty)
    return penalty, tape.gradient(scaled, gan.discriminator.trainable_variables)


def current_losses(gan, batch):
    """(d_loss, g_loss) on the step's latents before any update: what the balance rule of the alternating order
    compares (Mohr: losses first, then D's update, then G's against the updated D, same latents)."""
    fake, fake_labels = gan.generate(batch, salt=REUSED_SALT)
    fake_out = gan.discriminate(fake, fake_labels)
    d_loss, _ = obj.d_loss(gan, batch, fake, fake_labels, fake_out)
    return d_loss, obj.g_loss(gan, fake, fake_labels, fake_out)
