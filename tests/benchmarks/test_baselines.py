"""The benchmark's baselines train: one step of each changes the weights it should, with finite losses."""

import dataclasses

import numpy as np
import tensorflow as tf

from benchmarks.baselines import TutorialIdiom, make_fit_gan
from engine import models
from engine.presets import get_preset

CFG = dataclasses.replace(get_preset("dcgan_fashion"), batch_size=8)


def networks():
    return models.build_generator(CFG), models.build_discriminator(CFG)


def snapshot(model):
    return [w.numpy().copy() for w in model.trainable_weights]


def changed(before, model):
    return all(not np.array_equal(a, b.numpy()) for a, b in zip(before, model.trainable_weights, strict=False))


def real_batch(n=8):
    return np.random.default_rng(0).uniform(-1, 1, (n, 28, 28, 1)).astype(np.float32)


def test_tutorial_idiom_step_trains_both_networks():
    g, d = networks()
    idiom = TutorialIdiom(g, d, CFG)
    g0, d0 = snapshot(g), snapshot(d)
    losses = idiom.step(real_batch())
    assert all(np.isfinite(losses))
    # Keras 3 pitfall: with D frozen once (Keras 2 style) D's own train_on_batch would change nothing.
    assert changed(d0, d) and changed(g0, g)


def test_tutorial_idiom_keeps_discriminator_frozen_in_the_stacked_model():
    g, d = networks()
    idiom = TutorialIdiom(g, d, CFG)
    idiom.step(real_batch())  # builds both train functions
    d0 = [w.numpy().copy() for w in d.weights]
    idiom.gan.train_on_batch(np.zeros((8, CFG.latent_dim), np.float32), np.ones((8, 1), np.float32))
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(d0, d.weights, strict=False))


def test_fit_gan_trains_both_networks_under_steps_per_execution():
    g, d = networks()
    gan = make_fit_gan(g, d, CFG, jit_compile=False, steps_per_execution=2)
    g0, d0 = snapshot(g), snapshot(d)
    data = tf.data.Dataset.from_tensor_slices(real_batch(32)).batch(8).repeat()
    history = gan.fit(data, epochs=1, steps_per_epoch=2, verbose=0, shuffle=False)
    assert all(np.isfinite(history.history[k][0]) for k in ("d_loss", "g_loss"))
    assert changed(d0, d) and changed(g0, g)
