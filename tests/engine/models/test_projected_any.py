"""projected_any / cprojected_any: D on a frozen network (a random-weight stand-in here: `feature_weights` "random";
tests/engine/models/test_backbones.py loads the real weights). Only the heads learn; G's gradient flows through the
frozen network; BatchNorm there stays in inference mode; the losses average over the scales' logits."""

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from engine import models
from engine.models.projected_any import SCALES
from engine.presets import get_preset
from engine.step.losses import LOSSES


def config(size=32, c=3, **changes):
    changes.setdefault("feature_weights", "random")
    return dataclasses.replace(get_preset("folder_projected"), image_shape=(size, size, c), **changes)


def frozen_network(d):
    (network,) = [layer for layer in d.layers if isinstance(layer, keras.Model)]
    return network


@pytest.mark.parametrize("size, c", [(32, 3), (28, 1), (16, 3)])
def test_d_gives_one_logit_per_scale_for_any_size_and_colour(size, c):
    cfg = config(size, c)
    d = models.build_discriminator(cfg)
    images = tf.random.uniform([2, size, size, c], -1, 1)
    assert d(images).shape == (2, len(SCALES))


def test_only_the_heads_are_trained_and_the_family_names_its_sizes():
    d = models.build_discriminator(config())
    network = frozen_network(d)
    assert network.trainable_weights == [] and len(network.weights) > 100
    trained = {id(w) for w in d.trainable_weights}
    assert not trained & {id(w) for w in network.weights}
    # the random projections are fixed too: every trained kernel belongs to a head or the projection embedding
    fixed_convs = [layer for layer in d.layers if layer.__class__.__name__ == "Conv2D" and not layer.trainable]
    assert len(fixed_convs) == 2 * len(SCALES) - 1
    family = models.MODELS.get_or_fail("projected_any")
    assert family.any_size and 32 in family.sizes and family.conditional == "cprojected_any"


def test_a_training_step_moves_the_heads_and_g_but_nothing_frozen_and_batchnorm_stays_in_inference_mode():
    cfg = config()
    g, d = models.build_generator(cfg), models.build_discriminator(cfg)
    fixed = frozen_network(d).weights + [w for layer in d.layers if not layer.trainable for w in layer.weights]
    frozen_before = [w.numpy().copy() for w in fixed]
    heads_before = [w.numpy().copy() for w in d.trainable_weights]
    z = tf.random.normal([4, cfg.latent_dim])
    real = tf.random.uniform([4, 32, 32, 3], -1, 1)
    hinge = LOSSES.get_or_fail("hinge")
    optimizer_d, optimizer_g = tf.keras.optimizers.SGD(0.1), tf.keras.optimizers.SGD(0.1)
    with tf.GradientTape(persistent=True) as tape:
        fake = g(z, training=True)
        fake_logits = d(fake, training=True)
        d_loss = tf.reduce_mean(hinge.d(d(real, training=True), fake_logits, 1.0, 0.0))
        g_loss = tf.reduce_mean(hinge.g(fake_logits))
    g_grads = tape.gradient(g_loss, g.trainable_weights)
    assert all(grad is not None and np.isfinite(grad.numpy()).all() for grad in g_grads)
    assert any(float(tf.reduce_max(tf.abs(grad))) > 0 for grad in g_grads)  # through the frozen network
    optimizer_d.apply_gradients(zip(tape.gradient(d_loss, d.trainable_weights), d.trainable_weights, strict=True))
    optimizer_g.apply_gradients(zip(g_grads, g.trainable_weights, strict=True))
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(frozen_before, fixed, strict=True))
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(heads_before, d.trainable_weights, strict=True))
    # training=True changes nothing in the frozen network's output: its BatchNorm uses the moving statistics
    network, rgb = frozen_network(d), tf.image.resize(real, [cfg.feature_size, cfg.feature_size])
    for a, b in zip(network(rgb, training=True), network(rgb, training=False), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_the_conditional_twin_projects_the_label_at_every_scale():
    cfg = config(model="cprojected_any", num_classes=5)
    g, d = models.build_generator(cfg), models.build_discriminator(cfg)
    labels = tf.constant([0, 4], tf.int32)
    image = g([tf.random.normal([2, cfg.latent_dim]), labels], training=False)
    logits = d([image, labels]).numpy()
    other = d([image, tf.constant([1, 2], tf.int32)]).numpy()
    assert logits.shape == (2, len(SCALES)) and (np.abs(logits - other) > 0).all()


def test_spectral_norm_and_bad_feature_sizes_are_refused():
    with pytest.raises(ValueError, match="spectral_norm"):
        models.build_discriminator(config(spectral_norm=True))
    from engine.errors import UserError

    with pytest.raises(UserError, match="feature_size=40"):
        config(feature_size=40)
    with pytest.raises(UserError, match="feature_weights='imagenet'"):
        config(feature_weights="imagenet")


@pytest.mark.parametrize("name", ["bce", "hinge", "lsgan", "wgan_gp"])
def test_a_loss_on_several_logits_per_image_is_the_mean_of_its_logits_losses(name):
    loss = LOSSES.get_or_fail(name)
    real = tf.constant([[0.5, -2.0, 3.0], [1.0, 0.0, -1.0]])
    fake = tf.constant([[-0.5, 2.0, 0.1], [0.3, -0.7, 1.5]])
    per_logit = [loss.d(real[:, i : i + 1], fake[:, i : i + 1], 0.9, 0.0).numpy() for i in range(3)]
    np.testing.assert_allclose(loss.d(real, fake, 0.9, 0.0).numpy(), np.mean(per_logit, axis=0), rtol=1e-5, atol=1e-7)
    g_each = [loss.g(fake[:, i : i + 1]).numpy() for i in range(3)]
    np.testing.assert_allclose(loss.g(fake).numpy(), np.mean(g_each, axis=0), rtol=1e-5, atol=1e-7)
    assert loss.g(fake[:, :1]).shape == (2,)


# A whole run, resume and export (about 50 s on 2 cores): -m slow. The default run keeps the step above.
@pytest.mark.slow
def test_a_run_trains_resumes_and_exports_with_a_card_that_names_the_pretrained_parts(tmp_path, data_dir):
    """The feature D in a whole run (28x28 grey Fashion-like images, tiled to RGB for the frozen network): trained,
    resumed for two more steps, exported to ONNX with parity, and the model card credits the frozen network."""
    from engine.config import RunOptions
    from engine.models.backbones.mobilenet_v2 import SOURCE
    from engine.run.loop import train
    from export.card import card_paths
    from export.onnx import export_onnx

    cfg = dataclasses.replace(
        get_preset("dcgan_any_fashion"),
        model="projected_any",
        feature_weights="random",
        loss="hinge",
        batch_size=32,
        steps=2,
        checkpoint_every=2,
        log_every=1,
        sample_count=16,
    )
    run_dir, opts = tmp_path / "run", RunOptions(data_dir=str(data_dir))
    run_dir.mkdir()
    train(cfg, opts, run_dir, tf.distribute.get_strategy())
    train(dataclasses.replace(cfg, steps=4), opts, run_dir, tf.distribute.get_strategy(), resume=True)
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 4 and steps == sorted(set(steps))  # resumed at step 2, nothing logged twice
    card, _ = card_paths(export_onnx(run_dir, tmp_path / "g.onnx"))
    text = card.read_text()
    assert "| pretrained parts | D trained on frozen pretrained features: MobileNetV2" in text
    assert SOURCE.split(" (")[0] in text and "MIT License" in text
