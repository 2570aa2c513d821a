"""Adversarial losses as per-example functions of discriminator logits, registered by name.

Each loss gives `d(real_logits, fake_logits, real_target, fake_target)` and `g(fake_logits)`, [batch] vectors, so the
step can average them over the global batch with `tf.nn.compute_average_loss` (correct under any number of replicas).
Targets (label smoothing) apply to the losses that have targets (bce, lsgan); `gradient_penalty` marks WGAN-GP.
"""

from dataclasses import dataclass
from typing import Callable

import tensorflow as tf

from engine.registry import Registry

LOSSES = Registry("loss")


@dataclass(frozen=True)
class AdversarialLoss:
    d: Callable
    g: Callable
    uses_targets: bool = False
    gradient_penalty: bool = False


def _flat(logits):
    return tf.reshape(tf.cast(logits, tf.float32), [-1])


def _bce(logits, target):
    # Cross-entropy of sigmoid(logits) against `target`, written with softplus for stability.
    x = _flat(logits)
    return target * tf.nn.softplus(-x) + (1.0 - target) * tf.nn.softplus(x)


LOSSES.register("bce")(AdversarialLoss(
    d=lambda real, fake, real_t, fake_t: _bce(real, real_t) + _bce(fake, fake_t),
    g=lambda fake: _bce(fake, 1.0),  # non-saturating: -log sigmoid(f)
    uses_targets=True,
))
LOSSES.register("hinge")(AdversarialLoss(
    d=lambda real, fake, real_t, fake_t: tf.nn.relu(1.0 - _flat(real)) + tf.nn.relu(1.0 + _flat(fake)),
    g=lambda fake: -_flat(fake),
))
LOSSES.register("lsgan")(AdversarialLoss(
    d=lambda real, fake, real_t, fake_t: 0.5 * (tf.square(_flat(real) - real_t) + tf.square(_flat(fake) - fake_t)),
    g=lambda fake: 0.5 * tf.square(_flat(fake) - 1.0),
    uses_targets=True,
))
LOSSES.register("wgan_gp")(AdversarialLoss(
    d=lambda real, fake, real_t, fake_t: _flat(fake) - _flat(real),
    g=lambda fake: -_flat(fake),
    gradient_penalty=True,
))
