"""FLOP counts of tiny known layers against hand-computed numbers, the step convention, and the matmul peak."""

import keras
import pytest

from benchmarks.flops import forward_flops, measure_matmul_peak, step_flops, step_passes


def model(shape, *layers):
    x = inp = keras.Input(shape)
    for layer in layers:
        x = layer(x)
    return keras.Model(inp, x)


def test_dense_is_two_flops_per_multiply_add():
    assert forward_flops(model((10,), keras.layers.Dense(7))) == 2 * 10 * 7


def test_dense_on_a_sequence_counts_every_position():
    assert forward_flops(model((5, 10), keras.layers.Dense(7))) == 2 * 5 * 10 * 7


def test_conv2d_counts_output_pixels_times_kernel_volume():
    # 8x8x3 -> stride 2, same padding -> 4x4 output, 3x3 kernel, 3 -> 16 channels
    m = model((8, 8, 3), keras.layers.Conv2D(16, 3, strides=2, padding="same"))
    assert forward_flops(m) == 2 * (4 * 4) * (3 * 3 * 3) * 16


def test_grouped_conv2d_counts_channels_per_group():
    m = model((6, 6, 4), keras.layers.Conv2D(8, 3, padding="valid", groups=2))
    assert forward_flops(m) == 2 * (4 * 4) * (3 * 3 * 2) * 8


def test_conv2d_transpose_counts_input_pixels_times_kernel_volume():
    # 7x7x128 -> 14x14x64 with a 5x5 kernel: each input pixel scatters 5*5*64 multiply-adds per input channel
    m = model((7, 7, 128), keras.layers.Conv2DTranspose(64, 5, strides=2, padding="same"))
    assert forward_flops(m) == 2 * (7 * 7) * (5 * 5) * 128 * 64


def test_ignored_layers_count_nothing_and_nested_models_are_summed():
    inner = model((4,), keras.layers.Dense(3))
    outer = model(
        (4,),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        inner,
        keras.layers.Dropout(0.5),
        keras.layers.Dense(2),
    )
    assert forward_flops(outer) == 2 * 4 * 3 + 2 * 3 * 2


def test_spectral_normalization_counts_the_wrapped_layer():
    m = model((10,), keras.layers.SpectralNormalization(keras.layers.Dense(7)))
    assert forward_flops(m) == 2 * 10 * 7


def test_step_passes_follow_the_stated_convention():
    assert step_passes("simultaneous") == {"G": 3, "D": 7}
    assert step_passes("alternating") == {"G": 4, "D": 8}
    assert step_passes("alternating", n_critic=5) == {"G": 8, "D": 32}
    with pytest.raises(ValueError, match="update_order"):
        step_passes("sideways")


def test_dcgan_fashion_simultaneous_step_is_about_211_mflop_per_image():
    from engine import models
    from engine.presets import get_preset

    cfg = get_preset("dcgan_fashion")
    g, d = models.build_generator(cfg), models.build_discriminator(cfg)
    # G: Dense 100->6272, ConvT 7x7x128->64 (5x5), ConvT 14x14x64->1 (5x5)
    assert forward_flops(g) == 2 * (100 * 6272 + 49 * 25 * 128 * 64 + 196 * 25 * 64)
    # D: Conv 1->64 to 14x14, Conv 64->128 to 7x7 (both 5x5), Dense 6272->1
    assert forward_flops(d) == 2 * (196 * 25 * 64 + 49 * 25 * 64 * 128 + 6272)
    assert step_flops(g, d) / 1e6 == pytest.approx(210.8, abs=0.1)
    assert step_flops(g, d, "alternating") == 4 * forward_flops(g) + 8 * forward_flops(d)


def test_matmul_peak_is_the_best_timing():
    ticks = iter([0.0, 0.5, 1.0, 1.1, 2.0, 2.2])  # timings 0.5 s, 0.1 s, 0.2 s for one 256^3 matmul
    peak = measure_matmul_peak((256,), repeats=3, clock=lambda: next(ticks))
    assert peak == pytest.approx(2 * 256**3 / 0.1 / 1e9)
