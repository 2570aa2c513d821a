"""The engine's Dropout: Keras's semantics (keep probability, independent masks, scaling, gradient, RNG state) with
a cheaper mask, and an exact rate under bfloat16 where Keras's own layer is off."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from engine.models.layers import Dropout, dropout, keep_threshold

N = 1 << 22  # 4M draws: the kept fraction's standard error is 2.3e-4 at rate 0.3


def kept_fraction(y) -> float:
    return float(tf.reduce_mean(tf.cast(tf.not_equal(y, 0), tf.float64)))


def test_threshold_gives_the_keep_probability_to_32_bits():
    assert keep_threshold(0.0) == 0  # every draw kept
    assert keep_threshold(0.5) == 2**31
    assert abs(1 - keep_threshold(0.3) / 2**32 - 0.7) < 2**-32


@pytest.mark.parametrize("dtype", [tf.float32, tf.bfloat16])
def test_keep_probability_and_scale_are_the_rate_s_in_float32_and_bfloat16(dtype):
    y = dropout(tf.ones([N], dtype), 0.3, tf.constant([3, 4]))
    assert y.dtype == dtype
    assert abs(kept_fraction(y) - 0.7) < 5 * np.sqrt(0.21 / N)
    values = np.unique(tf.cast(y, tf.float32).numpy())
    assert values[0] == 0 and values[1] == pytest.approx(1 / 0.7, rel=1e-2 if dtype == tf.bfloat16 else 1e-7)
    assert len(values) == 2


def test_under_mixed_bfloat16_keras_own_dropout_is_off_the_rate_and_the_engine_s_is_not():
    # Keras draws the uniform in the layer's compute dtype: 7 mantissa bits in bfloat16, keep probability 89/128.
    x = tf.ones([N], tf.bfloat16)
    theirs = keras.layers.Dropout(0.3, seed=1, dtype="mixed_bfloat16")(x, training=True)
    ours = Dropout(0.3, seed=1, dtype="mixed_bfloat16")(x, training=True)
    assert theirs.dtype == ours.dtype == tf.bfloat16
    assert abs(kept_fraction(theirs) - 89 / 128) < 5 * np.sqrt(0.21 / N)
    assert abs(kept_fraction(ours) - 0.7) < 5 * np.sqrt(0.21 / N)


def test_masks_are_independent_across_elements_and_calls():
    layer = Dropout(0.3, seed=7)
    x = tf.ones([N])
    a = tf.not_equal(layer(x, training=True), 0).numpy()
    b = tf.not_equal(layer(x, training=True), 0).numpy()
    tolerance = 5 * np.sqrt(0.49 * 0.51 / N)
    assert abs((a & b).mean() - 0.49) < tolerance  # two calls: P(both kept) = 0.7^2
    assert abs((a[1:] & a[:-1]).mean() - 0.49) < tolerance  # neighbours within a call
    assert abs((a[::2] & a[1::2]).mean() - 0.49) < tolerance


def test_gradient_is_the_forward_mask_times_the_scale():
    x = tf.random.stateless_normal([64, 7, 7, 8], [0, 1])
    dy = tf.random.stateless_normal(x.shape, [0, 2])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = dropout(x, 0.3, tf.constant([5, 6]))
    dx = tape.gradient(y, x, output_gradients=dy)
    keep = tf.not_equal(y, 0)
    np.testing.assert_allclose(y.numpy(), tf.where(keep, x / 0.7, 0.0).numpy(), rtol=1e-6)
    np.testing.assert_allclose(dx.numpy(), tf.where(keep, dy / 0.7, 0.0).numpy(), rtol=1e-6)


def test_layer_is_deterministic_in_its_seed_state_and_advances_it_as_keras_does():
    ours, theirs = Dropout(0.3, seed=11), keras.layers.Dropout(0.3, seed=11)
    x = tf.ones([1000])
    first = ours(x, training=True).numpy()
    theirs(x, training=True)
    np.testing.assert_array_equal(ours.seed_generator.state.numpy(), theirs.seed_generator.state.numpy())
    ours.seed_generator.state.assign([11, 0])  # a restored checkpoint: the same state draws the same mask
    np.testing.assert_array_equal(ours(x, training=True).numpy(), first)
    assert not np.array_equal(ours(x, training=True).numpy(), first)


def test_inference_and_rate_zero_pass_the_input_through():
    x = tf.random.stateless_normal([4, 5], [1, 1])
    assert ours_is(Dropout(0.3)(x, training=False), x)
    assert ours_is(Dropout(0.0)(x, training=True), x)
    with pytest.raises(ValueError, match="noise_shape"):
        Dropout(0.3, noise_shape=(1, 5))


def ours_is(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b))


def test_config_round_trips():
    layer = Dropout(0.4, seed=3, name="d")
    clone = Dropout.from_config(layer.get_config())
    assert (clone.rate, clone.seed, clone.name) == (0.4, 3, "d")
    assert keras.saving.get_registered_object("engine>Dropout") is Dropout


@pytest.mark.parametrize(
    "preset", ["dcgan_fashion", "alphabet", "dcgan_mnist", "acgan_mnist", "dcgan_faces", "balanced_dcgan_mnist"]
)
def test_every_discriminator_drops_out_with_the_engine_s_layer_and_every_generator_with_keras_own(preset):
    import dataclasses

    from engine import models
    from engine.presets import get_preset

    cfg = dataclasses.replace(get_preset(preset), dropout=0.4)  # the Mohr presets train with 0: bring the layers in
    d_layers = [type(layer) for layer in models.build_discriminator(cfg).layers]
    assert Dropout in d_layers and keras.layers.Dropout not in d_layers
    # Generators stay built-in layers, so a run's generator.keras loads without the engine's code.
    assert Dropout not in [type(layer) for layer in models.build_generator(cfg).layers]
