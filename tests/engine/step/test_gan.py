"""Every preset trains under mirrored (2 logical CPUs); every modern option changes what it should."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from engine.cluster.strategies import make_strategy
from engine.data import ImageData
from engine.data.pipeline import distribute, make_dataset
from engine.errors import UserError
from engine.presets import PRESETS, get_preset
from engine.step.gan import GAN
from engine.step.traced import make_train_fn


def fake_data(shape, classes=10, n=64, seed=0):
    rng = np.random.default_rng(seed)
    return ImageData(
        rng.integers(0, 256, (n, *shape), dtype=np.uint8),
        rng.integers(0, classes, n).astype(np.int32),
        tuple(str(i) for i in range(classes)),
        "test",
    )


def build(cfg, strategy):
    with strategy.scope():
        gan = GAN(cfg)
    data = fake_data(cfg.image_shape)
    it = iter(
        distribute(
            make_dataset(data, global_batch_size=cfg.batch_size, output_range=cfg.output_range, seed=0), strategy
        )
    )
    return gan, it, make_train_fn(gan, strategy, jit_compile=False)


def small(name, **changes):
    return dataclasses.replace(get_preset(name), batch_size=8, **changes)


def weights(model):
    return [w.numpy().copy() for w in model.trainable_variables]


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=False))


# In the default run once per distinct network and update: cdcgan_fashion_long is cdcgan_fashion longer,
# dcgan_fashion_fast has dcgan_fashion's networks and its simultaneous step trains under mirrored in the default run
# (tests/engine/run/test_faults.py, kill -9 and resume),
# cdcgan_fashion_aux cdcgan_fashion with a class head on D (its losses: tests/engine/step/test_objectives.py),
# dcgan_fashion_long dcgan_fashion_fast longer, dcgan_fashion_adam dcgan_fashion_fast's networks and simultaneous step
# with Adam's constants and batch 64,
# balanced_dcgan_mnist has dcgan_faces' Mohr networks and balance rule, dcgan_fashion_modern is dcgan_fashion's with
# hinge and spectral norm (test_spectral_norm_wraps_d_and_bounds_its_kernels); all of them with -m slow.
SAME_AS_ANOTHER = (
    "cdcgan_fashion_aux",
    "cdcgan_fashion_long",
    "dcgan_fashion_fast",
    "dcgan_fashion_long",
    "dcgan_fashion_adam",
    "balanced_dcgan_mnist",
    "dcgan_fashion_modern",
)
# The three longest (20-40 s each on 2 cores) train in the default run in their own tests, and here with -m slow:
# acgan_mnist under mirrored (test_acgan_splits_d_into_a_real_and_a_fake_update), dcgan_faces' networks
# (test_balance_rule_compares_the_sources_losses) and folder_projected's D, projected_any
# (tests/engine/models/test_projected_any.py).
LONG = ("acgan_mnist", "dcgan_faces", "folder_projected")


@pytest.mark.parametrize(
    "preset",
    [pytest.param(p, marks=pytest.mark.slow) if p in SAME_AS_ANOTHER + LONG else p for p in sorted(PRESETS)],
)
def test_every_preset_trains_under_mirrored(preset):
    strategy = make_strategy("mirrored", 2)
    gan, it, fn = build(small(preset), strategy)
    g0, d0 = weights(gan.generator), weights(gan.discriminator)
    losses = [{k: float(v) for k, v in fn(it, tf.constant(2)).items()} for _ in range(2)]
    assert all(np.isfinite(v) for step in losses for v in step.values())
    assert int(gan.step_counter.numpy()) == 4
    assert not same(g0, weights(gan.generator)) or not same(d0, weights(gan.discriminator))


@pytest.mark.parametrize(
    "strategy_name, order",
    [
        ("default", "simultaneous"),
        ("default", "alternating"),
        ("mirrored", "simultaneous"),
        pytest.param("mirrored", "alternating", marks=pytest.mark.slow),  # each order and strategy: the three above
    ],
)
def test_balance_rule_skips_the_stronger_networks_update(strategy_name, order):
    # balance_g tiny: g_loss * 1e-9 < d_loss always holds, so G's update is always skipped; D never is.
    cfg = small("dcgan_fashion", update_order=order, d_fakes_inference=order == "alternating", balance_g=1e-9)
    gan, it, fn = build(cfg, make_strategy(strategy_name, 2))
    g0, d0 = weights(gan.generator), weights(gan.discriminator)
    out = fn(it, tf.constant(1))
    assert float(out["g_skipped"]) == 1.0 and float(out["d_skipped"]) == 0.0
    assert same(g0, weights(gan.generator)), "the skipped generator's weights changed"
    assert not same(d0, weights(gan.discriminator))
    assert int(gan.g_optimizer.iterations.numpy()) == 0 and int(gan.d_optimizer.iterations.numpy()) == 1


def test_balance_rule_skips_d_when_d_is_ahead():
    cfg = small("dcgan_fashion", balance_d=1e-9)
    gan, it, fn = build(cfg, tf.distribute.get_strategy())
    d0 = weights(gan.discriminator)
    out = fn(it, tf.constant(1))
    assert float(out["d_skipped"]) == 1.0 and same(d0, weights(gan.discriminator))


def zero_output_layer(discriminator):
    """Zeroes D's last Dense so every logit is 0 (D says 0.5 to everything)."""
    import keras

    last = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.Dense)][-1]
    last.kernel.assign(tf.zeros_like(last.kernel))
    last.bias.assign(tf.zeros_like(last.bias))


@pytest.mark.parametrize("preset", ["balanced_dcgan_mnist", "dcgan_faces"])
def test_balance_rule_compares_the_sources_losses(preset):
    # Mohr: loss_d = mean(0.5 * (bce_real + bce_fake)), loss_g = mean(bce(1, D(G(z)))). With D at 0.5 everywhere
    # both are ln 2, so neither `g * 1.5 < d` nor `d * 2 < g` holds: neither update is skipped. (Summing D's two
    # terms, as the engine once did, makes d = 2 ln 2 and skips G's update.)
    cfg = small(preset)
    gan, it, fn = build(cfg, tf.distribute.get_strategy())
    zero_output_layer(gan.discriminator)
    out = fn(it, tf.constant(1))
    assert float(out["d_loss"]) == pytest.approx(np.log(2), rel=1e-4)
    assert float(out["g_loss"]) == pytest.approx(np.log(2), rel=1e-4)
    assert float(out["d_skipped"]) == 0.0 and float(out["g_skipped"]) == 0.0
    assert (int(gan.d_optimizer.iterations.numpy()), int(gan.g_optimizer.iterations.numpy())) == (1, 1)


def test_acgan_splits_d_into_a_real_and_a_fake_update():
    gan, it, fn = build(small("acgan_mnist"), make_strategy("mirrored", 2))
    out = fn(it, tf.constant(3))
    assert (int(gan.d_optimizer.iterations.numpy()), int(gan.g_optimizer.iterations.numpy())) == (6, 3)
    assert 0.0 <= float(out["d_acc_real"]) <= 1.0 and 0.0 <= float(out["d_acc_fake"]) <= 1.0


def test_g_batch_factor_trains_g_on_more_latents(monkeypatch):
    from engine.step import objectives

    sizes = []
    g_loss = objectives.g_loss
    monkeypatch.setattr(
        objectives, "g_loss", lambda gan, fake, *a, **k: sizes.append(fake.shape[0]) or g_loss(gan, fake, *a, **k)
    )
    gan, it, fn = build(small("dcgan_mnist"), tf.distribute.get_strategy())
    fn(it, tf.constant(1))
    # Traced once or more; batch 8 real images, 2 latents each (Brownlee: G on 256 for D's 128 + 128).
    assert set(sizes) == {16}


def test_dropout_option_sets_every_dropout_layer():
    import keras

    for preset, default in (("dcgan_fashion", 0.3), ("balanced_dcgan_mnist", 0.4), ("dcgan_faces", 0.4)):
        for rate in (None, 0.25):
            gan = GAN(small(preset, dropout=rate) if rate is not None else small(preset))
            rates = {
                layer.rate
                for net in (gan.generator, gan.discriminator)
                for layer in net.layers
                if isinstance(layer, keras.layers.Dropout)
            }
            assert rates == {default if rate is None else rate}, preset


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
    for ema, before, after in zip(gan.generator_ema.weights, w0, gan.generator.weights, strict=False):
        np.testing.assert_allclose(ema.numpy(), 0.9 * before + 0.1 * after.numpy(), rtol=1e-5, atol=1e-7)
    assert gan.sampler is gan.generator_ema


def test_spectral_norm_wraps_d_and_bounds_its_kernels():
    cfg = small("dcgan_fashion", spectral_norm=True)
    gan, it, fn = build(cfg, tf.distribute.get_strategy())
    import keras

    wrapped = [layer for layer in gan.discriminator.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(wrapped) == 3  # two Conv2D and the Dense
    fn(it, tf.constant(20))
    for layer in wrapped:
        kernel = layer.layer.kernel.numpy()
        sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
        assert sigma == pytest.approx(1.0, abs=0.1)


def test_conditional_generators_take_labels_and_grids_have_one_class_per_row():
    from engine.run.loop import fixed_latents

    for name in ("acgan_mnist", "cdcgan_fashion"):
        cfg = small(name, sample_count=20)
        gan = GAN(cfg)
        z, labels = fixed_latents(cfg)
        assert labels.tolist() == [0, 0] + [1, 1] + [2, 2] + [3, 3] + [4, 4] + [5, 5] + [6, 6] + [7, 7] + [8, 8] + [
            9,
            9,
        ]
        a = gan.generator([z[:2], np.array([0, 0], np.int32)], training=False)
        b = gan.generator([z[:2], np.array([5, 5], np.int32)], training=False)
        assert not np.allclose(a, b)
    z, labels = fixed_latents(small("acgan_mnist", sample_count=64))
    assert len(z) == 70 and np.bincount(labels).tolist() == [7] * 10  # rounded up to whole rows


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"model": "acgan_mnist", "num_classes": 0}, "is class-conditional: set num_classes"),
        ({"loss": "hinge", "real_label": 0.9}, "label smoothing .* has no meaning for loss=hinge"),
    ],
)
def test_inconsistent_options_are_refused(changes, message):
    with pytest.raises(UserError, match=message):
        GAN(small("dcgan_fashion", **changes))


@pytest.mark.parametrize(
    "pairs, message",
    [
        (["update_order=simultaneous", "n_critic=3"], "n_critic > 1 needs update_order=alternating"),
        (["balance_g=1.5", "n_critic=2", "loss=wgan_gp"], "balance_g/balance_d need n_critic=1"),
        (["update_order=simultaneous", "g_reuses_noise=true"], "g_reuses_noise need update_order=alternating"),
        (["g_batch_factor=2", "g_reuses_noise=true"], "g_batch_factor=2 .must be >= 1, and 1 when g_reuses_noise"),
        (["dropout=1.0"], r"dropout=1.0 \(must be in \[0, 1\)\)"),
        (["ema_decay=1.0"], r"ema_decay=1.0 \(must be in \[0, 1\)\)"),
    ],
)
def test_option_combinations_are_checked(pairs, message):
    from engine.config import apply_overrides

    with pytest.raises(UserError, match=message):
        apply_overrides(get_preset("dcgan_fashion"), pairs)
    for ok in (
        ["balance_g=1.5"],
        ["update_order=simultaneous", "d_fakes_inference=false", "balance_g=1.5"],
    ):  # the rule works in both orders
        apply_overrides(get_preset("dcgan_fashion"), ok)


def test_ema_warmup_starts_by_following_g():
    # decay at step t is min(ema_decay, (1 + t) / (10 + t)): 0.1 at the first step, so the average is mostly G's.
    cfg = small("dcgan_fashion", ema_decay=0.999, ema_warmup=True)
    gan, it, fn = build(cfg, tf.distribute.get_strategy())
    w0 = [w.numpy().copy() for w in gan.generator.weights]
    fn(it, tf.constant(1))
    for ema, before, after in zip(gan.generator_ema.weights, w0, gan.generator.weights, strict=False):
        np.testing.assert_allclose(ema.numpy(), 0.1 * before + 0.9 * after.numpy(), rtol=1e-5, atol=1e-6)
