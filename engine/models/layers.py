"""A cheaper exact Dropout, the one every family's discriminator uses (measured against Keras's with
`python -m benchmarks.op_profile --compare-dropout`; docs/benchmarks.md, "Dropout").

`Dropout` is keras.layers.Dropout (same rate, same independent Bernoulli mask per element, same 1 / (1 - rate)
scaling, same SeedGenerator and so the same checkpointed RNG state) with a cheaper mask: the keep decision is
drawn as 32 random bits compared with an integer threshold instead of a uniform float in the activation's dtype,
and applied as one multiply by a 0-or-scale tensor (forward and backward) instead of a multiply and a select.
Under mixed_bfloat16 it also keeps the rate exact: Keras draws the uniform in bfloat16 (7 mantissa bits), which
turns rate 0.3 into a keep probability of 89/128 (0.695). Generators keep Keras's own layer, so a run's
generator.keras loads without this module.
"""

import keras
import tensorflow as tf

_BITS = 2**32


def keep_threshold(rate: float) -> int:
    """The uint32 threshold t with P(bits >= t) = 1 - rate for uniform 32-bit `bits`, to within 2^-32."""
    return min(_BITS - 1, round(rate * _BITS))


def dropout(x, rate: float, seed):
    """x with each element kept with probability 1 - rate (and scaled by 1 / (1 - rate)) or zeroed, independently;
    `seed`: a stateless [2] integer seed. One multiply by a 0-or-scale mask, so the gradient is one multiply too."""
    bits = tf.random.stateless_uniform(tf.shape(x), seed, minval=None, maxval=None, dtype=tf.uint32)
    keep = bits >= tf.constant(keep_threshold(rate), tf.uint32)
    return x * (tf.cast(keep, x.dtype) * tf.constant(1.0 / (1.0 - rate), x.dtype))


@keras.saving.register_keras_serializable(package="engine")
class Dropout(keras.layers.Dropout):
    """keras.layers.Dropout with the mask drawn by `dropout` above (no noise_shape: every element its own draw)."""

    def __init__(self, rate, seed=None, **kwargs):
        if kwargs.get("noise_shape") is not None:
            raise ValueError("engine.models.layers.Dropout draws every element independently: no noise_shape")
        kwargs.pop("noise_shape", None)
        super().__init__(rate, seed=seed, **kwargs)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        if self.rate >= 1:
            return tf.zeros_like(inputs)
        seed = self.seed_generator.next()  # the state Keras's own Dropout advances, one step per call
        seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)  # as keras's TensorFlow backend does
        return dropout(inputs, self.rate, seed)
