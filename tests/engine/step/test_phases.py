"""The per-replica phases: `d_one_pass` (D on the real and generated images in one call) changes the kernels, not
the losses or the gradients."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from engine.errors import UserError
from engine.presets import get_preset
from engine.step import phases
from engine.step.gan import GAN

SHAPE = (16, 16, 3)


def folder_cfg(model="dcgan_any", **changes):
    # augment_p 0.8: the transforms are drawn per image, so a pair that mixed up the two sides' draws would differ
    return dataclasses.replace(
        get_preset("folder"), model=model, image_shape=SHAPE, batch_size=8, augment_p=0.8, **changes
    )


def twins(cfg):
    """Two GANs with the same weights, the second calling D once on both sides."""
    two, one = GAN(cfg), GAN(dataclasses.replace(cfg, d_one_pass=True))
    for a, b in ((two.generator, one.generator), (two.discriminator, one.discriminator)):
        b.set_weights(a.get_weights())
    return two, one


def real_batch(classes=10):
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(-1, 1, (8, *SHAPE)), tf.float32)
    return {"image": images, "label": tf.constant(rng.integers(0, classes, 8), tf.int32)}


def close(a, b):
    dense = [(tf.convert_to_tensor(x), tf.convert_to_tensor(y)) for x, y in zip(a, b, strict=True)]  # Embedding: slices
    return all(np.allclose(x, y, rtol=1e-4, atol=1e-6) for x, y in dense)


def count_d_calls(gan, monkeypatch):
    calls = {"discriminate": 0, "discriminate_pair": 0}
    for name in calls:
        method = getattr(gan, name)

        def counted(*args, _name=name, _method=method, **kwargs):
            calls[_name] += 1
            return _method(*args, **kwargs)

        monkeypatch.setattr(gan, name, counted)
    return calls


@pytest.mark.parametrize("model, extra", [("dcgan_any", {}), ("cdcgan_any", {"num_classes": 10})])
def test_one_pass_gives_both_networks_the_same_losses_and_gradients_from_one_d_call(model, extra, monkeypatch):
    two, one = twins(folder_cfg(model, **extra))
    calls = count_d_calls(one, monkeypatch)
    batch = real_batch()
    d_two, g_two, stats_two, dg_two, gg_two = phases.both_gradients(two, batch)
    d_one, g_one, stats_one, dg_one, gg_one = phases.both_gradients(one, batch)
    assert calls == {"discriminate": 0, "discriminate_pair": 1}
    assert np.allclose([d_one, g_one], [d_two, g_two], rtol=1e-5)
    assert np.allclose(stats_one, stats_two, atol=1e-6)
    assert close(dg_one, dg_two) and close(gg_one, gg_two)
    # the real side's outputs are not the generated side's: a pair that swapped the halves would change the loss
    assert not np.isclose(float(stats_two[2]), float(stats_two[3]))


def test_one_pass_d_update_of_the_alternating_order_matches_two_calls():
    two, one = twins(folder_cfg(update_order="alternating"))
    batch = real_batch()
    d_two, stats_two, grads_two = phases.d_gradients(two, batch, salt=1)
    d_one, stats_one, grads_one = phases.d_gradients(one, batch, salt=1)
    assert np.isclose(float(d_one), float(d_two), rtol=1e-5)
    assert np.allclose(stats_one, stats_two, atol=1e-6) and close(grads_one, grads_two)


@pytest.mark.parametrize(
    "cfg, why",
    [
        (dataclasses.replace(folder_cfg(), spectral_norm=True), "is spectral-normalized"),
        (dataclasses.replace(get_preset("acgan_mnist"), batch_size=8), "has BatchNormalization"),
    ],
)
def test_one_pass_is_refused_for_a_d_with_batch_statistics(cfg, why):
    with pytest.raises(UserError, match=f"d_one_pass needs a D without batch statistics.*{why}"):
        GAN(dataclasses.replace(cfg, d_one_pass=True))
