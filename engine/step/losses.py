"""Adversarial losses as per-example functions of discriminator logits, registered by name.

Each loss gives `d(real_logits, fake_logits, real_target, fake_target)` and `g(fake_logits)`, [batch] vectors, so the
step can average them over the global batch with `tf.nn.compute_average_loss` (correct under any number of replicas).
A D with several logits per image ([batch, n]: one per scale, as projected_any's) gets each image's loss as the mean
of its logits' losses, as Projected GAN averages over all of them; with one logit it is that logit's loss, exactly.
Targets (label smoothing) apply to the losses that have targets (bce, lsgan); `gradient_penalty` marks WGAN-GP.
"""

from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf

from engine.registry import Registry

LOSSES = Registry("loss")


@dataclass(frozen=True)
class AdversarialLoss:
    """D's loss is `weight * (real(real_logits, real_target) + fake(fake_logits, fake_target))`, per example.

    The parts exist on their own for steps that update D on the real and the generated batch separately (ACGAN).
    """

    real: Callable
    fake: Callable
    g: Callable
    weight: float = 1.0
    uses_targets: bool = False
    gradient_penalty: bool = False

    def d(self, real_logits, fake_logits, real_target, fake_target):
        return self.combine(self.real(real_logits, real_target), self.fake(fake_logits, fake_target))

    def combine(self, real_loss, fake_loss):
        """D's loss from its two sides' losses, however they were computed (per example, or already averaged)."""
        return self.weight * (real_loss + fake_loss)


def per_image(logits):
    """D's logits as [batch, n]: one row per image, whatever D's output shape."""
    logits = tf.cast(logits, tf.float32)
    return tf.reshape(logits, [tf.shape(logits)[0], -1])


def _mean_over_logits(elementwise: Callable) -> Callable:
    """A per-example loss from an elementwise one: its mean over each image's logits."""
    return lambda logits, *target: tf.reduce_mean(elementwise(per_image(logits), *target), axis=1)


@_mean_over_logits
def _bce(x, target):
    # Cross-entropy of sigmoid(logits) against `target`, written with softplus for stability.
    return target * tf.nn.softplus(-x) + (1.0 - target) * tf.nn.softplus(x)


# BCE's D loss is the mean over the real and generated images together, i.e. half the sum of the two means: what
# Keras's `train_on_batch` on concat(fake, real) computes, and what Mohr's balance rule compares.
LOSSES.register("bce")(
    AdversarialLoss(
        real=_bce,
        fake=_bce,
        g=lambda fake: _bce(fake, 1.0),  # non-saturating: -log sigmoid(f)
        weight=0.5,
        uses_targets=True,
    )
)
each = _mean_over_logits
LOSSES.register("hinge")(
    AdversarialLoss(
        real=each(lambda real, t: tf.nn.relu(1.0 - real)),
        fake=each(lambda fake, t: tf.nn.relu(1.0 + fake)),
        g=each(lambda fake: -fake),
    )
)
LOSSES.register("lsgan")(
    AdversarialLoss(
        real=each(lambda real, t: tf.square(real - t)),
        fake=each(lambda fake, t: tf.square(fake - t)),
        g=each(lambda fake: 0.5 * tf.square(fake - 1.0)),
        weight=0.5,
        uses_targets=True,
    )
)
LOSSES.register("wgan_gp")(
    AdversarialLoss(
        real=each(lambda real, t: -real),
        fake=each(lambda fake, t: fake),
        g=each(lambda fake: -fake),
        gradient_penalty=True,
    )
)
