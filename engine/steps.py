"""The traced training function: N steps per Python call, each a `strategy.run` of the GAN's replica step.

Nothing here touches numpy or has Python side effects; the eager loop (engine.loop) owns everything else.
"""

import tensorflow as tf


def make_train_fn(gan, strategy: tf.distribute.Strategy, *, global_batch_size: int, jit_compile: bool):
    """Builds `train_steps(iterator, n) -> {loss name: mean over the n steps}`.

    Args:
      gan: an engine.gan.GAN built in `strategy.scope()`.
      strategy: the distribution strategy the iterator comes from.
      global_batch_size: images per step summed over replicas.
      jit_compile: compile the per-replica step with XLA. The outer loop stays uncompiled because it pulls from a
        tf.data iterator, which XLA cannot compile.
    Returns:
      A tf.function; pass `n` as an int32 tensor so changing it does not retrace.
    """
    replica_step = tf.function(gan.replica_step, jit_compile=True) if jit_compile else gan.replica_step

    def one_step(iterator):
        per_replica = strategy.run(replica_step, args=(next(iterator), global_batch_size))
        gan.step_counter.assign_add(1)
        # Each replica returned its share of the global mean, so the sum is the global mean.
        return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in per_replica.items()}

    @tf.function
    def train_steps(iterator, n):
        totals = one_step(iterator)
        # A device-side loop: Python runs once per call, however many steps it holds.
        for _ in tf.range(n - 1):
            totals = {k: totals[k] + v for k, v in one_step(iterator).items()}
        return {k: v / tf.cast(n, v.dtype) for k, v in totals.items()}

    return train_steps
