"""Every preset trains under mirrored (2 logical CPUs); every modern option changes what it should."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from engine.config import PRESETS, get_preset
from engine.data import ImageData
from engine.data.pipeline import distribute, make_dataset
from engine.distribute import make_strategy
from engine.errors import UserError
from engine.gan import GAN
from engine.steps import make_train_fn


def fake_data(shape, classes=10, n=64, seed=0):
    rng = np.random.default_rng(seed)
    return ImageData(rng.integers(0, 256, (n, *shape), dtype=np.uint8), rng.integers(0, classes, n).astype(np.int32),
                     tuple(str(i) for i in range(classes)), "test")


def build(cfg, strategy):
    with strategy.scope():
        gan = GAN(cfg)
    data = fake_data(cfg.image_shape)
    it = iter(distribute(make_dataset(data, global_batch_size=cfg.batch_size, output_range=cfg.output_range,
                                      seed=0), strategy))
    return gan, it, make_train_fn(gan, strategy, global_batch_size=cfg.batch_size, jit_compile=False)


def small(name, **changes):
    return dataclasses.replace(get_preset(name), batch_size=8, **changes)


def weights(model):
    return [w.numpy().copy() for w in model.trainable_variables]


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_trains_under_mirrored(preset):
    strategy = make_strategy("mirrored", 2)
    gan, it, fn = build(small(preset), strategy)
    g0, d0 = weights(gan.generator), weights(gan.discriminator)
    losses = [{k: float(v) for k, v in fn(it, tf.constant(2)).items()} for _ in range(2)]
    assert all(np.isfinite(v) for step in losses for v in step.values())
    assert int(gan.step_counter.numpy()) == 4
    assert not same(g0, weights(gan.generator)) or not same(d0, weights(gan.discriminator))


@pytest.mark.parametrize("strategy_name", ["default", "mirrored"])
def test_balance_rule_skips_the_stronger_networks_update(strategy_name):
    # balance_g tiny: g_loss * 1e-9 < d_loss always holds, so G's update is always skipped; D never is.
    cfg = small("dcgan_fashion", balance_g=1e-9, balance_d=1e-9 * 0 + 0.0)
    gan, it, fn = build(dataclasses.replace(cfg, balance_d=0.0), make_strategy(strategy_name, 2))
    g0, d0 = weights(gan.generator), weights(gan.discriminator)
    out = fn(it, tf.constant(1))
    assert float(out["g_skipped"]) == 1.0 and float(out["d_skipped"]) == 0.0
    assert same(g0, weights(gan.generator)), "the skipped generator's weights changed"
    assert not same(d0, weights(gan.discriminator))
    assert int(gan.g_optimizer.iterations.numpy()) == 0 and int(gan.d_optimizer.iterations.numpy()) == 1


def test_balance_rule_skips_d_when_d_is_ahead():
    cfg = dataclasses.replace(small("dcgan_fashion"), balance_d=1e-9)
    gan, it, fn = build(cfg, tf.distribute.get_strategy())
    d0 = weights(gan.discriminator)
    out = fn(it, tf.constant(1))
    assert float(out["d_skipped"]) == 1.0 and same(d0, weights(gan.discriminator))


def test_n_critic_updates_d_n_times_per_g_update():
    cfg = small("dcgan_fashion", update_order="alternating", n_critic=3, loss="wgan_gp")
    gan, it, fn = build(cfg, tf.distribute.get_strategy())
    fn(it, tf.constant(2))
    assert (int(gan.d_optimizer.iterations.numpy()), int(gan.g_optimizer.iterations.numpy())) == (6, 2)


def test_ema_is_the_running_average_of_g():
    cfg = small("dcgan_fashion", ema_decay=0.9)
    gan, it, fn = build(cfg, tf.distribute.get_strategy())
    w0 = [w.numpy().copy() for w in gan.generator.weights]
    fn(it, tf.constant(1))
    for ema, before, after in zip(gan.generator_ema.weights, w0, gan.generator.weights):
        np.testing.assert_allclose(ema.numpy(), 0.9 * before + 0.1 * after.numpy(), rtol=1e-5, atol=1e-7)
    assert gan.sampler is gan.generator_ema


def test_spectral_norm_wraps_d_and_bounds_its_kernels():
    cfg = small("dcgan_fashion", spectral_norm=True)
    gan, it, fn = build(cfg, tf.distribute.get_strategy())
    import keras

    wrapped = [l for l in gan.discriminator.layers if isinstance(l, keras.layers.SpectralNormalization)]
    assert len(wrapped) == 3  # two Conv2D and the Dense
    fn(it, tf.constant(20))
    for layer in wrapped:
        kernel = layer.layer.kernel.numpy()
        sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
        assert sigma == pytest.approx(1.0, abs=0.1)


def test_l2_penalty_is_added_to_the_loss():
    data = fake_data((28, 28, 1))
    batch = {"image": tf.constant(data.images[:8], tf.float32) / 127.5 - 1, "label": tf.constant(data.labels[:8])}
    results = []
    for l2 in (0.0, 1e-2):
        tf.keras.utils.set_random_seed(0)
        gan = GAN(small("dcgan_fashion", l2=l2))
        for layer in gan.discriminator.layers:  # no dropout: compare the losses, not the masks
            if hasattr(layer, "rate"):
                layer.rate = 0.0
        results.append((gan, float(gan.d_loss(batch, batch["image"], None, 8))))
    (gan0, plain), (_, penalised) = results
    squares = sum(float(np.sum(w.numpy() ** 2)) for w in gan0.discriminator.trainable_variables if len(w.shape) > 1)
    assert penalised - plain == pytest.approx(1e-2 * squares, rel=1e-3)


def test_gradient_penalty_is_positive_and_added_for_wgan_gp():
    data = fake_data((28, 28, 1))
    real = tf.constant(data.images[:8], tf.float32) / 127.5 - 1
    gan = GAN(small("dcgan_fashion", loss="wgan_gp"))
    penalty = float(gan._gradient_penalty(real, -real, None, 8))
    assert penalty > 0
    assert float(GAN(small("dcgan_fashion", loss="wgan_gp", gp_weight=0.0))._gradient_penalty(real, -real, None, 8)) == 0


def test_conditional_generators_take_labels_and_grids_have_one_class_per_row():
    from engine.loop import fixed_latents

    for name in ("acgan_mnist", "cdcgan_fashion"):
        cfg = small(name, sample_count=20)
        gan = GAN(cfg)
        z, labels = fixed_latents(cfg)
        assert labels.tolist() == [0, 0] + [1, 1] + [2, 2] + [3, 3] + [4, 4] + [5, 5] + [6, 6] + [7, 7] + [8, 8] + [9, 9]
        a = gan.generator([z[:2], np.array([0, 0], np.int32)], training=False)
        b = gan.generator([z[:2], np.array([5, 5], np.int32)], training=False)
        assert not np.allclose(a, b)
    z, labels = fixed_latents(small("acgan_mnist", sample_count=64))
    assert len(z) == 70 and np.bincount(labels).tolist() == [7] * 10  # rounded up to whole rows


@pytest.mark.parametrize("changes, message", [
    ({"model": "acgan_mnist", "num_classes": 0}, "is class-conditional: set num_classes"),
    ({"loss": "hinge", "real_label": 0.9}, "label smoothing .* has no meaning for loss=hinge"),
])
def test_inconsistent_options_are_refused(changes, message):
    with pytest.raises(UserError, match=message):
        GAN(small("dcgan_fashion", **changes))


@pytest.mark.parametrize("pair, message", [
    ("n_critic=3", "n_critic > 1 needs update_order=alternating"),
    ("balance_g=1.5", None),
    ("ema_decay=1.0", r"ema_decay=1.0 \(must be in \[0, 1\)\)"),
])
def test_option_combinations_are_checked(pair, message):
    from engine.config import apply_overrides

    if message is None:
        apply_overrides(get_preset("dcgan_fashion"), [pair])
        with pytest.raises(UserError, match="balance_g/balance_d need update_order=simultaneous"):
            apply_overrides(get_preset("dcgan_fashion"), [pair, "update_order=alternating"])
    else:
        with pytest.raises(UserError, match=message):
            apply_overrides(get_preset("dcgan_fashion"), [pair])
