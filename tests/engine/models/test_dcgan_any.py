"""dcgan_any / cdcgan_any: every size the issue names builds in 1 and 3 channels, trains 2 steps, and exports to
ONNX, TFLite and SavedModel within the parity budget (two sizes in the default run, all of them with -m slow)."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from engine import models
from engine.errors import UserError
from engine.models.dcgan_any import SIZES, blocks, channels
from engine.presets import get_preset
from engine.run import reading as runread

NAMED_SIZES = (16, 28, 32, 40, 48, 64, 96, 128)


def config(size, c, **changes):
    return dataclasses.replace(get_preset("folder"), image_shape=(size, size, c), **changes)


def test_the_named_sizes_are_built_from_a_small_base_by_doubling():
    assert set(NAMED_SIZES) <= set(SIZES)
    assert [blocks(s) for s in (16, 28, 40, 48, 96)] == [(4, 2), (7, 2), (5, 3), (3, 4), (3, 5)]
    with pytest.raises(ValueError, match="base \\* 2\\*\\*k"):
        blocks(30)


@pytest.mark.parametrize("size", NAMED_SIZES)
@pytest.mark.parametrize("c", [1, 3])
def test_every_size_builds_g_and_d_of_the_right_shapes(size, c):
    cfg = config(size, c)
    g, d = models.build_generator(cfg), models.build_discriminator(cfg)
    z = tf.random.normal([2, cfg.latent_dim])
    image = g(z, training=False)
    assert image.shape == (2, size, size, c)
    assert float(tf.reduce_max(tf.abs(image))) <= 1.0  # tanh
    assert d(image).shape == (2, 1)
    assert not any("batch_normalization" in layer.name for layer in d.layers)  # no BatchNorm in D


def test_width_multiplies_the_channels():
    narrow, wide = config(32, 3, width=0.5), config(32, 3, width=2.0)
    assert [channels(narrow, r) for r in (4, 8, 16, 32)] == [128, 64, 32, 16]
    assert [channels(wide, r) for r in (4, 8, 16, 32)] == [512, 256, 128, 64]
    assert models.build_generator(wide).count_params() > 3 * models.build_generator(narrow).count_params()


def conv_channels(model) -> list[int]:
    return [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def test_d_width_widens_d_alone_and_zero_means_gs_width():
    same, wide_d = config(32, 3, width=0.5), config(32, 3, width=0.5, d_width=2.0)
    assert conv_channels(models.build_discriminator(same)) == [32, 64, 128]  # D takes G's width when d_width is 0
    assert conv_channels(models.build_discriminator(wide_d)) == [128, 256, 512]
    assert models.build_generator(wide_d).count_params() == models.build_generator(same).count_params()
    with pytest.raises(UserError, match="d_width=-1.0"):
        config(32, 3, d_width=-1.0)


def test_conditional_twin_takes_labels_and_projects_them_in_d():
    cfg = config(32, 3, model="cdcgan_any", num_classes=5)
    g, d = models.build_generator(cfg), models.build_discriminator(cfg)
    labels = tf.constant([0, 4], tf.int32)
    image = g([tf.random.normal([2, cfg.latent_dim]), labels], training=False)
    logits = d([image, labels]).numpy()
    other = d([image, tf.constant([1, 2], tf.int32)]).numpy()
    assert logits.shape == (2, 1) and not np.allclose(logits, other)  # the label moves the logit (projection)


def export_all(cfg, tmp_path):
    from benchmarks.export_graph import perturb_batchnorm
    from export.onnx import write_onnx
    from export.savedmodel import write_savedmodel
    from export.tflite import write_tflite

    generator = models.build_generator(cfg)
    perturb_batchnorm(generator)
    meta = runread.generator_metadata(
        cfg, step=0, checkpoint_sha="0" * 64, class_names=[str(i) for i in range(cfg.num_classes)]
    )
    for write, name in ((write_onnx, "g.onnx"), (write_tflite, "g.tflite"), (write_savedmodel, "saved")):
        assert write(generator, meta, tmp_path / name).exists()  # each verifies parity at batch 1 and 16


@pytest.mark.parametrize("size, c", [(28, 1), (48, 3)])
def test_sizes_export_in_every_format_with_parity(size, c, tmp_path):
    export_all(config(size, c), tmp_path)


def train_two_steps(cfg):
    from engine.step.gan import GAN
    from engine.step.traced import make_train_fn

    gan = GAN(cfg)
    h, w, c = cfg.image_shape
    x = np.random.default_rng(0).uniform(-1, 1, (cfg.batch_size, h, w, c)).astype(np.float32)
    data = tf.data.Dataset.from_tensors({"image": x, "label": np.zeros(cfg.batch_size, np.int32)}).repeat()
    out = make_train_fn(gan, tf.distribute.get_strategy(), jit_compile=False)(iter(data), tf.constant(2))
    assert int(out["steps"]) == 2 and np.isfinite(float(out["d_loss"])) and np.isfinite(float(out["g_loss"]))


@pytest.mark.slow
@pytest.mark.parametrize("size", NAMED_SIZES)
@pytest.mark.parametrize("c", [1, 3])
def test_every_size_trains_two_steps_and_exports_in_every_format_with_parity(size, c, tmp_path):
    """(16x16x3 trains in the default run: tests/engine/step/test_r1.py.)"""
    train_two_steps(config(size, c, batch_size=4))
    export_all(config(size, c), tmp_path)


def test_skip_excitation_gates_the_blocks_two_doublings_up():
    g = models.build_generator(config(32, 3, g_skip_excitation=True))
    gates = [layer for layer in g.layers if isinstance(layer, keras.layers.Multiply)]
    # 32 = 4 * 2**3: the 4x4 features gate the 16x16 block, the 8x8 ones the 32x32 block
    assert [tuple(layer.output.shape[1:3]) for layer in gates] == [(16, 16), (32, 32)]
    squeezes = [layer for layer in g.layers if isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (4, 4)]
    assert [tuple(layer.input.shape[1:3]) for layer in squeezes] == [(4, 4), (4, 4)]  # the 8x8 ones pooled to 4x4
    assert [layer for layer in models.build_generator(config(32, 3)).layers if "multiply" in layer.name] == []


@pytest.mark.slow
def test_skip_excitation_trains_and_exports_with_parity(tmp_path):
    """(Its structure is checked in the default run: test_skip_excitation_gates_the_blocks_two_doublings_up.)"""
    cfg = config(32, 3, g_skip_excitation=True, batch_size=4)
    train_two_steps(cfg)
    export_all(cfg, tmp_path)
