"""The divergence guard: a phase's non-finite flag, and undoing what a skipped step's forward pass moved.

A gradients phase is run `guarded`: it also returns 1.0 when a loss or gradient it produced is non-finite on this
replica, and the statistics (BatchNorm moving averages, spectral-norm vectors) as they were before its forward pass.
The step sums the flags over replicas and, if any is set, skips the update and puts the statistics back.
"""

import keras
import tensorflow as tf


def guarded(gan, phase):
    """`phase(gan, *args)` as a per-replica function of `*args` returning (its outputs, the non-finite flag, the
    statistics before it ran)."""

    def guarded_phase(*args):
        before = [tf.identity(v) for v in gan.statistics]  # read before the forward pass moves them
        out = phase(gan, *args)
        return out, nonfinite(gan, out), before

    guarded_phase.__name__ = f"guarded_{phase.__name__}"
    return guarded_phase


def nonfinite(gan, out) -> tf.Tensor:
    """1.0 if a loss in `out` (or, without loss scaling, a gradient) is NaN or infinite, else 0.0."""
    losses = [v for v in out if not isinstance(v, (list, tuple))]
    grads = [g for v in out if isinstance(v, (list, tuple)) for g in v if g is not None]
    # With loss scaling, overflowing scaled gradients are the LossScaleOptimizer's to skip (it lowers the scale).
    scaled = isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
    return 1.0 - tf.cast(all_finite(losses if scaled else losses + grads), tf.float32)


def all_finite(tensors) -> tf.Tensor:
    """Whether every element of every tensor is finite, from one scalar: x * 0 is 0 for a finite x and NaN for NaN
    or +-inf, so the sum of those products is NaN exactly when some element is not finite. Exact, unlike the global
    norm (a sum of squares overflows to inf for finite gradients above ~1e19), and one add per tensor instead of a
    per-tensor `reduce_all` stacked and reduced again."""
    # An embedding's gradient (IndexedSlices) is finite where its values are: the rows it leaves out are zeros.
    values = [t.values if isinstance(t, tf.IndexedSlices) else t for t in tensors]
    probes = [tf.reduce_sum(tf.cast(v, tf.float32) * 0.0) for v in values]
    return tf.math.is_finite(tf.add_n(probes)) if probes else tf.constant(True)


def restore_statistics(gan, before, ok):
    """Puts the statistics back to `before` unless `ok` (the step's update is applied)."""
    # An assign through tf.where rather than inside a tf.cond: a replica-context update cannot sit in a cond.
    for v, old in zip(gan.statistics, before, strict=True):
        v.assign(tf.where(ok, v, old))


def count(gan, ok) -> tf.Tensor:
    """Records whether the step was skipped (in all, and in a row); returns 1.0 if it was."""
    skipped = tf.cast(tf.logical_not(ok), tf.int64)
    gan.skipped_steps.assign_add(skipped)
    gan.consecutive_skips.assign((gan.consecutive_skips + 1) * skipped)
    return tf.cast(skipped, tf.float32)
