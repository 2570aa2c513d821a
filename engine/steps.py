"""The traced training function: N steps per Python call, each the GAN's `distributed_step`.

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
    cache = {}

    def compiled(phase):
        # One XLA-compiled function per per-replica phase, reused by every traced step.
        if not jit_compile:
            return phase
        if phase.__name__ not in cache:
            cache[phase.__name__] = tf.function(phase, jit_compile=True)
        return cache[phase.__name__]

    def one_step(iterator):
        return gan.distributed_step(strategy, next(iterator), global_batch_size, compiled)

    @tf.function
    def train_steps(iterator, n):
        totals = one_step(iterator)
        # A device-side loop: Python runs once per call, however many steps it holds.
        for _ in tf.range(n - 1):
            totals = {k: totals[k] + v for k, v in one_step(iterator).items()}
        return {k: v / tf.cast(n, v.dtype) for k, v in totals.items()}

    return train_steps
