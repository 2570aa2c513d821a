"""What the published presets do that a row of the recipe table cannot show (tests/engine/test_presets.py)."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from engine import models
from engine.cluster.strategies import make_strategy
from engine.data import ImageData
from engine.data.pipeline import distribute, make_dataset
from engine.presets import get_preset
from engine.step import phases, update_orders
from engine.step.gan import GAN


def acgan(**changes):
    return dataclasses.replace(get_preset("acgan_mnist"), batch_size=8, **changes)


def first_batch(cfg, strategy):
    rng = np.random.default_rng(0)
    data = ImageData(
        rng.integers(0, 256, (32, *cfg.image_shape), dtype=np.uint8),
        rng.integers(0, 10, 32).astype(np.int32),
        tuple(str(i) for i in range(10)),
        "test",
    )
    ds = make_dataset(data, global_batch_size=cfg.batch_size, output_range=cfg.output_range, seed=0)
    return next(iter(distribute(ds, strategy)))


def moving_statistics(model):
    return [v.numpy().copy() for v in model.non_trainable_variables if "moving" in v.path]


def unchanged(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("strategy_name", ["default", "mirrored"])
@pytest.mark.parametrize("frozen", [True, False])
def test_g_update_leaves_d_batchnorm_statistics_alone_when_frozen(strategy_name, frozen):
    # acgan_mnist's D holds two BatchNorms; G's update alone, traced as the step traces it.
    cfg = acgan(d_frozen_bn_in_g_step=frozen)
    strategy = make_strategy(strategy_name, 2)
    with strategy.scope():
        gan = GAN(cfg)
    replicas = update_orders.Replicas(gan, strategy, jit_compile=False)

    @tf.function
    def g_update(batch):
        (_, grads), ok = replicas.gradients(phases.g_gradients, batch)
        replicas.apply_if(ok, update_orders.update_g, grads)

    statistics, g_statistics = moving_statistics(gan.discriminator), moving_statistics(gan.generator)
    d_trainable = len(gan.discriminator.trainable_variables)
    assert len(statistics) == 4  # moving mean and variance of D's two BatchNorms
    g_update(first_batch(cfg, strategy))
    assert unchanged(statistics, moving_statistics(gan.discriminator)) == frozen
    assert not unchanged(g_statistics, moving_statistics(gan.generator))  # G's own BatchNorms did move
    assert int(gan.g_optimizer.iterations.numpy()) == 1
    assert len(gan.discriminator.trainable_variables) == d_trainable  # the BatchNorms are trainable again


def test_frozen_d_runs_batchnorm_on_moving_statistics_and_still_drops_out():
    images = tf.random.stateless_normal([8, 28, 28, 1], [0, 1])
    labels = tf.zeros([8], tf.int32)
    without_dropout = GAN(acgan(dropout=0.0))
    frozen, _ = without_dropout.discriminate(images, labels, frozen_bn=True)
    inference, _ = without_dropout.discriminator(images, training=False)
    training, _ = without_dropout.discriminate(images, labels)
    np.testing.assert_allclose(frozen.numpy(), inference.numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(training.numpy(), inference.numpy(), atol=1e-3)  # batch statistics differ from moving
    gan = GAN(acgan())  # Dropout(0.25): two calls, two masks
    first, _ = gan.discriminate(images, labels, frozen_bn=True)
    second, _ = gan.discriminate(images, labels, frozen_bn=True)
    assert not np.allclose(first.numpy(), second.numpy())


def test_acgan_mnist_freezes_d_batchnorm_in_g_update_only_in_the_alternating_order():
    from engine.config import with_update_order
    from engine.errors import UserError

    assert get_preset("acgan_mnist").d_frozen_bn_in_g_step
    assert not with_update_order(get_preset("acgan_mnist"), "simultaneous").d_frozen_bn_in_g_step
    with pytest.raises(UserError, match="d_frozen_bn_in_g_step"):
        dataclasses.replace(get_preset("dcgan_fashion_fast"), d_frozen_bn_in_g_step=True)


def calibrated(generator, z):
    """`generator` with each BatchNorm's moving statistics where training takes them: the mean and variance of its
    input in training mode (Dropout dropping, BatchNorms on batch statistics) over the latents `z`."""
    norms = [layer for layer in generator.layers if isinstance(layer, keras.layers.BatchNormalization)]
    inputs = keras.Model(generator.inputs, [layer.input for layer in norms])(z, training=True)
    for layer, x in zip(norms, inputs, strict=True):
        axes = list(range(len(x.shape) - 1))
        layer.moving_mean.assign(tf.reduce_mean(x, axes))
        layer.moving_variance.assign(tf.math.reduce_variance(x, axes))
    return generator


def variety(images) -> float:
    """How much a batch of images differs from image to image: the per-pixel std across the batch, averaged."""
    return float(np.mean(np.std(np.asarray(images), axis=0)))


@pytest.mark.parametrize("preset", ["balanced_dcgan_mnist", "dcgan_faces"])
def test_mohr_generators_sample_in_inference_mode_as_they_train(preset):
    # The source samples G in inference mode (`keep_prob: 1.0, is_training: False`), BatchNorm on its moving
    # statistics: with D's dropout on and none in G, those statistics are the ones inference mode meets, and samples
    # keep the variety and brightness of training mode. (The source's dropout before each of G's BatchNorms, run,
    # leaves a third of the variety: an earlier version of these presets drew flat, black grids.)
    cfg = get_preset(preset)
    generator, discriminator = models.build_generator(cfg), models.build_discriminator(cfg)
    assert not [layer for layer in generator.layers if isinstance(layer, keras.layers.Dropout)]
    assert {layer.rate for layer in discriminator.layers if isinstance(layer, keras.layers.Dropout)} == {0.4}
    z = tf.random.stateless_uniform([128, cfg.latent_dim], [0, 2])
    generator = calibrated(generator, z[:64])
    training, inference = generator(z[64:], training=True), generator(z[64:], training=False)
    assert variety(inference) > 0.9 * variety(training) > 0.1
    assert abs(float(tf.reduce_mean(inference)) - float(tf.reduce_mean(training))) < 0.02


def test_the_published_row_is_re_measured_without_touching_the_other_rows():
    from benchmarks.quality import merged, provenance

    old = {
        "command": "python -m benchmarks.quality --recipes published,default",
        "date": "2026-12-02 10:00 UTC",
        "recipes": {"published": {"curve": ["rmsprop"]}, "default": {"curve": ["default"]}},
    }
    command = "python -m benchmarks.quality --recipes published --merge"
    fresh = {"published": {"curve": ["adam"], "measured": {"command": command, "date": "d", "note": "shared"}}}
    results = merged(old, fresh)
    assert list(results) == ["published", "default"]  # the earlier order
    assert results["published"]["curve"] == ["adam"] and results["default"]["curve"] == ["default"]
    assert provenance(results["published"], command) == " (shared)"
    assert provenance(results["default"], command) == f" (measured by `{old['command']}` on 2026-12-02 10:00 UTC)"
