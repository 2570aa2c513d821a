"""Lazy R1 (engine.step.phases.r1_gradients, engine.step.update_orders.lazy_r1): the penalty against a hand-computed
value on a linear D, its gradient, and a D update only every r1_every-th step."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from engine.presets import get_preset
from engine.step import phases, update_orders
from engine.step.gan import GAN


def linear_gan(**changes):
    """A folder GAN whose D is logit = <w, x> + b on 4x4x1 images, with w known."""
    cfg = dataclasses.replace(
        get_preset("folder"),
        image_shape=(8, 8, 1),
        batch_size=4,
        augment="",
        ada_target=0.0,
        **{"r1_weight": 2.0, "r1_every": 4, **changes},
    )
    gan = GAN(cfg)
    image = keras.Input(cfg.image_shape)
    gan.discriminator = keras.Model(image, keras.layers.Dense(1)(keras.layers.Flatten()(image)))
    w = np.linspace(-1, 1, 64).reshape(64, 1).astype(np.float32)
    gan.discriminator.set_weights([w, np.zeros(1, np.float32)])
    gan.d_optimizer = keras.optimizers.SGD(0.1)
    gan.d_optimizer.build(gan.discriminator.trainable_variables)
    return gan, w


def batch(n=4):
    x = np.random.default_rng(0).uniform(-1, 1, (n, 8, 8, 1)).astype(np.float32)
    return {"image": tf.constant(x), "label": tf.zeros([n], tf.int32)}


def test_r1_matches_the_hand_computed_value_and_gradient():
    gan, w = linear_gan()
    penalty, grads = phases.r1_gradients(gan, batch())
    # grad_x D(x) = w for every image: R1 = gamma / 2 * ||w||^2, times r1_every (lazy) = 2 / 2 * 4 * ||w||^2
    assert float(penalty) == pytest.approx(4.0 * float(np.sum(w**2)), rel=1e-5)
    np.testing.assert_allclose(grads[0].numpy(), 8.0 * w, rtol=1e-5)  # d/dw of 4 * ||w||^2
    assert grads[1] is None  # the bias does not reach the input gradient


def test_lazy_r1_updates_d_only_every_r1_every_steps():
    gan, w = linear_gan()
    replicas = update_orders.Replicas(gan, tf.distribute.get_strategy(), jit_compile=False)
    gan.step_counter.assign(3)
    assert bool(update_orders.lazy_r1(replicas, batch()))
    np.testing.assert_array_equal(gan.discriminator.get_weights()[0], w)
    gan.step_counter.assign(4)
    assert bool(update_orders.lazy_r1(replicas, batch()))
    np.testing.assert_allclose(gan.discriminator.get_weights()[0], w - 0.1 * 8.0 * w, rtol=1e-5)
    assert float(gan.discriminator.get_weights()[1][0]) == 0.0  # left out, not moved


# Under mirrored the default run trains the folder preset (R1 and ADA set) in test_every_preset_trains_under_mirrored.
@pytest.mark.parametrize("strategy", ["default", pytest.param("mirrored", marks=pytest.mark.slow)])
def test_a_folder_run_with_r1_and_ada_trains_finite_under_each_strategy(strategy):
    from engine.cluster.strategies import make_strategy
    from engine.data.pipeline import distribute
    from engine.step.traced import make_train_fn

    cfg = dataclasses.replace(get_preset("folder"), image_shape=(16, 16, 3), batch_size=8, r1_every=2)
    strategy = make_strategy(strategy, 2)
    with strategy.scope():
        gan = GAN(cfg)
    x = np.random.default_rng(1).uniform(-1, 1, (8, 16, 16, 3)).astype(np.float32)
    data = tf.data.Dataset.from_tensors({"image": x, "label": np.zeros(8, np.int32)}).repeat()
    out = make_train_fn(gan, strategy, jit_compile=False)(iter(distribute(data, strategy)), tf.constant(4))
    assert int(out["steps"]) == 4 and float(out["skipped"]) == 0.0
    assert all(np.isfinite(float(v)) for k, v in out.items() if k not in ("steps",))
