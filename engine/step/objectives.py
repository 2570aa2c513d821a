"""What each network minimises, per replica: D's and G's losses on the GAN's outputs, averaged over the global batch.

Each function takes the GAN first and runs inside a per-replica phase (engine.step.phases). Losses are averaged with
`tf.nn.compute_average_loss` over `gan.global_batch_size`, so gradients summed over replicas are the global mean's.
"""

import tensorflow as tf

from engine.models import LABEL_FED_TO_D
from engine.step.losses import per_image

PENALTY_SALT = 63  # the seed salt of WGAN-GP's interpolation weights (see GAN.seed)
# What a D update reports besides its loss, per replica (summed over replicas: the global means): its accuracy on
# real and on generated images, then its mean output on each (LeCam's moving averages follow those).
D_STATS = ("acc_real", "acc_fake", "output_real", "output_fake")


def mean(gan, per_example, batch_size=None):
    """This replica's share of the global mean of `per_example` (over `batch_size`, default the global batch)."""
    return tf.nn.compute_average_loss(per_example, global_batch_size=batch_size or gan.global_batch_size)


def l2_penalty(gan, network):
    if not gan.cfg.l2:
        return 0.0
    # Gradients are summed over replicas, so each replica adds its share of the penalty.
    replicas = tf.distribute.get_replica_context().num_replicas_in_sync
    squares = [tf.reduce_sum(tf.square(w)) for w in network.trainable_variables if len(w.shape) > 1]
    return gan.cfg.l2 * tf.add_n(squares) / tf.cast(replicas, tf.float32)


def penalised(gan, loss, network, optimizer):
    """What the optimizer minimises: the loss plus the network's L2 penalty, scaled for mixed_float16."""
    return optimizer.scale_loss(loss + l2_penalty(gan, network))


def class_loss(gan, class_logits, labels, batch_size=None):
    per = tf.keras.losses.sparse_categorical_crossentropy(labels, class_logits, from_logits=True)
    return mean(gan, per, batch_size)


def r1_penalty(gan, real_grads):
    """This replica's share of R1, gamma / 2 * E ||grad_x D(x)||^2 over real images, times `r1_every` (lazy: it is
    applied every r1_every-th step, so the scaled penalty has the same expected strength; Karras et al. 2020)."""
    squares = tf.reduce_sum(tf.square(tf.cast(real_grads, tf.float32)), axis=[1, 2, 3])
    return 0.5 * gan.cfg.r1_weight * gan.cfg.r1_every * mean(gan, squares)


def accuracy(gan, logits, real: bool):
    """This replica's share of the fraction of images D calls right (logit > 0 means "real"; with several logits
    per image, the fraction of them)."""
    logits = per_image(logits)
    return mean(gan, tf.reduce_mean(tf.cast(logits > 0 if real else logits < 0, tf.float32), axis=1))


def gradient_penalty(gan, real, fake, labels):
    """WGAN-GP: (||grad D(x_hat)|| - 1)^2 at x_hat on lines between real and fake; alpha ~ U[0, 1]."""
    alpha = tf.random.stateless_uniform([tf.shape(real)[0], 1, 1, 1], gan.seed(PENALTY_SALT))
    x_hat = alpha * real + (1.0 - alpha) * fake
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        logits, _ = gan.discriminate(x_hat, labels)
    grads = tape.gradient(logits, x_hat)
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)
    return gan.cfg.gp_weight * mean(gan, tf.square(norms - 1.0))


def mean_output(gan, logits):
    """This replica's share of D's mean output over the global batch (each image's logits averaged first)."""
    return mean(gan, tf.reduce_mean(per_image(logits), axis=1))


def lecam_penalty(gan, logits, real: bool):
    """LeCam (Tseng et al. 2021, their code's one-sided form): D's outputs on real images held below the moving
    average of its outputs on generated ones, and those on generated images above the real ones' average,
    lecam_weight * E[relu(D(x) - a_fake)^2] on the real side, lecam_weight * E[relu(a_real - D(G(z)))^2] on the
    generated side. It bounds how far apart D may push the two sides, where a small folder lets it memorise."""
    logits = per_image(logits)
    gap = logits - gan.lecam_fake if real else gan.lecam_real - logits
    return gan.cfg.lecam_weight * mean(gan, tf.reduce_mean(tf.square(tf.nn.relu(gap)), axis=1))


def side_loss(gan, images, labels, real: bool, out=None):
    """D's loss on one side alone (the real batch, or generated images) and what the step tracks of it there: [its
    accuracy, its mean output] (each this replica's share); `out`: D's outputs on `images` when the caller has them."""
    logits, classes = out or gan.discriminate(images, labels, real=real)
    part = gan.adversarial.real if real else gan.adversarial.fake
    target = gan.cfg.real_label if real else gan.cfg.fake_label
    loss = mean(gan, part(logits, target))
    # ACGAN: D also names the class of real and of generated images; input_aux: of real images only.
    if classes is not None and (real or gan.conditioning == "acgan"):
        loss += class_loss(gan, classes, labels)
    if gan.cfg.lecam_weight:
        loss += lecam_penalty(gan, logits, real)
    return loss, tf.stack([accuracy(gan, logits, real), mean_output(gan, logits)])


def d_loss(gan, batch, fake, fake_labels, fake_out=None, real_out=None):
    """(D's loss, D_STATS: its accuracy on real, on fake, its mean output on real, on fake); `fake_out`, `real_out`:
    D's outputs on `fake` and on the real batch when the caller already has them (the simultaneous step, d_one_pass).
    The L2 penalty is not in it (see `penalised`)."""
    real, labels = batch["image"], batch["label"]
    real_loss, real_stats = side_loss(gan, real, labels, True, real_out)
    fake_loss, fake_stats = side_loss(gan, fake, fake_labels, False, fake_out)
    loss = gan.adversarial.combine(real_loss, fake_loss)
    if gan.adversarial.gradient_penalty:
        loss += gradient_penalty(gan, real, fake, labels if gan.conditioning in LABEL_FED_TO_D else None)
    return loss, d_stats(real_stats, fake_stats)


def d_stats(real_stats, fake_stats):
    """D_STATS from the two sides' [accuracy, mean output]."""
    return tf.stack([real_stats[0], fake_stats[0], real_stats[1], fake_stats[1]])


def g_loss(gan, fake, fake_labels, fake_out=None, batch_size=None):
    """G's loss on its fakes (`batch_size`: the images it is averaged over when G draws more than D)."""
    fake_logits, fake_classes = fake_out or gan.discriminate(fake, fake_labels)
    loss = mean(gan, gan.adversarial.g(fake_logits), batch_size)
    if fake_classes is not None:  # G: make each image named as the class it was asked for
        loss += gan.cfg.class_weight * class_loss(gan, fake_classes, fake_labels, batch_size)
    return loss
