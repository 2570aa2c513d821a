"""The traced training function: N steps per Python call, each `engine.step.update_orders.distributed_step`.

Nothing here touches numpy or has Python side effects; the eager loop (engine.run.loop) owns everything else.
"""

import tensorflow as tf

from engine.step.update_orders import Replicas, distributed_step


def make_train_fn(
    gan, strategy: tf.distribute.Strategy, *, jit_compile: bool, max_consecutive_skips: int = 0, guard: bool = True
):
    """Builds `train_steps(iterator, n) -> dict`: up to n steps, each one `distributed_step` of the GAN.

    Args:
      gan: an engine.step.gan.GAN built in `strategy.scope()`.
      strategy: the distribution strategy the iterator comes from.
      jit_compile: compile each per-replica phase with XLA. The outer loop stays uncompiled because it pulls from a
        tf.data iterator, which XLA cannot compile.
      max_consecutive_skips: > 0: stop early once this many steps in a row were skipped by the divergence guard
        (the eager loop then stops the run).
      guard: False leaves out the divergence guard (no finiteness check, no statistics snapshot, no tf.cond around
        the updates), only to measure its cost (benchmarks/step_cost.py); a non-finite step then updates anyway.
    Returns:
      A tf.function; pass `n` as an int32 tensor so changing it does not retrace. Its dict holds each output of
      the step averaged over the steps where it was finite (NaN if it never was), `steps` (int32, steps run) and
      `skipped` (float, steps skipped for a non-finite loss or gradient).
    """
    # One per function: each phase compiles once.
    replicas = Replicas(gan, strategy, jit_compile=jit_compile, guard=guard)

    def one_step(iterator):
        out = distributed_step(replicas, next(iterator))
        skipped = out.pop("nonfinite")
        # Sums and counts of finite values only: a skipped step's NaN loss must not hide the others.
        finite = {k: tf.math.is_finite(v) for k, v in out.items()}
        sums = {k: tf.where(finite[k], v, 0.0) for k, v in out.items()}
        return sums, {k: tf.cast(f, tf.float32) for k, f in finite.items()}, skipped

    def stop():
        return max_consecutive_skips > 0 and gan.consecutive_skips >= max_consecutive_skips

    # Traced once and called twice below (the first step, then the loop's body): a plain Python function would be
    # traced twice, and tracing is most of a short run's first call.
    traced_step = tf.function(one_step)

    @tf.function
    def train_steps(iterator, n):
        sums, counts, skipped = traced_step(iterator)
        steps = tf.constant(1)
        # A device-side loop: Python runs once per call, however many steps it holds. (A `for` over tf.range with a
        # `break` around the traced step failed under MirroredStrategy: a placeholder of the break's cond unfed.)
        while steps < n and not stop():
            s, c, k = traced_step(iterator)
            sums = {key: sums[key] + s[key] for key in sums}
            counts = {key: counts[key] + c[key] for key in counts}
            skipped += k
            steps += 1
        means = {k: tf.where(counts[k] > 0, sums[k] / tf.maximum(counts[k], 1.0), float("nan")) for k in sums}
        return {**means, "steps": steps, "skipped": skipped}

    return train_steps
