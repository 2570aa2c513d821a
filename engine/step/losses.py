"""Adversarial losses as per-example functions of discriminator logits, registered by name.

Each loss gives `d(real_logits, fake_logits, real_target, fake_target)` and `g(fake_logits)`, [batch] vectors, so the
step can average them over the global batch with `tf.nn.compute_average_loss` (correct under any number of replicas).
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


def _flat(logits):
    return tf.reshape(tf.cast(logits, tf.float32), [-1])


def _bce(logits, target):
    # Cross-entropy of sigmoid(logits) against `target`, written with softplus for stability.
    x = _flat(logits)
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
LOSSES.register("hinge")(
    AdversarialLoss(
        real=lambda real, t: tf.nn.relu(1.0 - _flat(real)),
        fake=lambda fake, t: tf.nn.relu(1.0 + _flat(fake)),
        g=lambda fake: -_flat(fake),
    )
)
LOSSES.register("lsgan")(
    AdversarialLoss(
        real=lambda real, t: tf.square(_flat(real) - t),
        fake=lambda fake, t: tf.square(_flat(fake) - t),
        g=lambda fake: 0.5 * tf.square(_flat(fake) - 1.0),
        weight=0.5,
        uses_targets=True,
    )
)
LOSSES.register("wgan_gp")(
    AdversarialLoss(
        real=lambda real, t: -_flat(real),
        fake=lambda fake, t: _flat(fake),
        g=lambda fake: -_flat(fake),
        gradient_penalty=True,
    )
)
