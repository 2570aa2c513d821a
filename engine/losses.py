"""Adversarial losses as per-example functions of discriminator logits, registered by name.

Each loss gives `d(real_logits, fake_logits)` and `g(fake_logits)`, both [batch] vectors, so the step can average
them over the global batch with `tf.nn.compute_average_loss` (correct under any number of replicas).
"""

from dataclasses import dataclass
from typing import Callable

import tensorflow as tf

from engine.registry import Registry

LOSSES = Registry("loss")


@dataclass(frozen=True)
class AdversarialLoss:
    d: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
    g: Callable[[tf.Tensor], tf.Tensor]


def _flat(logits):
    return tf.reshape(tf.cast(logits, tf.float32), [-1])


def _bce_d(real, fake):
    # -log sigmoid(r) - log(1 - sigmoid(f)), written with softplus for stability.
    return tf.nn.softplus(-_flat(real)) + tf.nn.softplus(_flat(fake))


def _bce_g(fake):
    # Non-saturating generator loss: -log sigmoid(f).
    return tf.nn.softplus(-_flat(fake))


LOSSES.register("bce")(AdversarialLoss(d=_bce_d, g=_bce_g))
