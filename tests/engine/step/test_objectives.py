"""What each network minimises: D's loss and accuracy, the L2 penalty, WGAN-GP's gradient penalty."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from engine.presets import get_preset
from engine.step import objectives as obj
from engine.step.gan import GAN


def small(name, **changes):
    return dataclasses.replace(get_preset(name), batch_size=8, **changes)


def real_batch():
    """8 images in [-1, 1] and their labels: the global batch `small` configs average over."""
    rng = np.random.default_rng(0)
    images = tf.constant(rng.integers(0, 256, (8, 28, 28, 1)), tf.float32) / 127.5 - 1
    return {"image": images, "label": tf.constant(rng.integers(0, 10, 8), tf.int32)}


def zero_output_layer(discriminator):
    """Zeroes D's last Dense so every logit is 0 (D says 0.5 to everything)."""
    last = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.Dense)][-1]
    last.kernel.assign(tf.zeros_like(last.kernel))
    last.bias.assign(tf.zeros_like(last.bias))


def test_d_loss_is_the_mean_of_its_two_terms_and_accuracy_counts_sides():
    gan = GAN(small("dcgan_fashion", dropout=0.0))
    zero_output_layer(gan.discriminator)
    batch = real_batch()
    loss, stats = obj.d_loss(gan, batch, batch["image"], None)
    assert float(loss) == pytest.approx(np.log(2), rel=1e-5)
    # a logit of exactly 0 is right about neither side; D's mean output on each side is 0
    assert stats.numpy().tolist() == [0.0, 0.0, 0.0, 0.0]
    last = [layer for layer in gan.discriminator.layers if hasattr(layer, "bias") and layer.bias is not None][-1]
    last.bias.assign(tf.ones_like(last.bias))  # logit 1 everywhere: every real called real, every fake called real
    _, stats = obj.d_loss(gan, batch, batch["image"], None)
    assert stats.numpy().tolist() == [1.0, 0.0, 1.0, 1.0]
    assert len(obj.D_STATS) == len(stats)


def constant_logit(gan, value):
    """D's last Dense zeroed but for its bias: every logit is `value`."""
    zero_output_layer(gan.discriminator)
    last = [layer for layer in gan.discriminator.layers if isinstance(layer, keras.layers.Dense)][-1]
    last.bias.assign(tf.fill(last.bias.shape, value))


def test_lecam_adds_the_squared_excess_over_the_other_sides_moving_average():
    batch = real_batch()
    plain = GAN(small("dcgan_fashion", dropout=0.0, loss="hinge"))
    lecam = GAN(small("dcgan_fashion", dropout=0.0, loss="hinge", lecam_weight=0.3))
    for gan in (plain, lecam):
        constant_logit(gan, 1.5)  # D says 1.5 to every image, real or generated
    lecam.lecam_real.assign(0.5)
    lecam.lecam_fake.assign(-1.0)
    base, _ = obj.d_loss(plain, batch, batch["image"], None)
    regularised, _ = obj.d_loss(lecam, batch, batch["image"], None)
    # real side: relu(1.5 - (-1.0))^2 = 6.25; generated side: relu(0.5 - 1.5)^2 = 0 (one-sided)
    assert float(regularised) - float(base) == pytest.approx(0.3 * 6.25, rel=1e-5)
    lecam.lecam_real.assign(2.0)  # now the generated side's output is below the real average: 0.5^2
    regularised, _ = obj.d_loss(lecam, batch, batch["image"], None)
    assert float(regularised) - float(base) == pytest.approx(0.3 * (6.25 + 0.25), rel=1e-5)


def test_lecam_moving_averages_move_only_on_applied_steps():
    gan = GAN(small("dcgan_fashion", lecam_weight=0.3, lecam_decay=0.9))
    gan.track_outputs(tf.constant(2.0), tf.constant(-1.0), tf.constant(True))
    assert [float(gan.lecam_real), float(gan.lecam_fake)] == pytest.approx([0.2, -0.1])
    gan.track_outputs(tf.constant(50.0), tf.constant(50.0), tf.constant(False))  # a skipped step leaves them
    assert [float(gan.lecam_real), float(gan.lecam_fake)] == pytest.approx([0.2, -0.1])


def test_l2_penalty_is_added_to_what_the_optimizer_minimises():
    batch = real_batch()
    gan = GAN(small("dcgan_fashion", l2=1e-2, dropout=0.0))
    plain, _ = obj.d_loss(gan, batch, batch["image"], None)
    penalised = obj.penalised(gan, plain, gan.discriminator, gan.d_optimizer)
    squares = sum(float(np.sum(w.numpy() ** 2)) for w in gan.discriminator.trainable_variables if len(w.shape) > 1)
    assert float(penalised) - float(plain) == pytest.approx(1e-2 * squares, rel=1e-3)
    no_l2 = GAN(small("dcgan_fashion", dropout=0.0))
    assert float(obj.penalised(no_l2, plain, no_l2.discriminator, no_l2.d_optimizer)) == float(plain)


def test_gradient_penalty_is_positive_and_added_for_wgan_gp():
    real = real_batch()["image"]
    gan = GAN(small("dcgan_fashion", loss="wgan_gp"))
    penalty = float(obj.gradient_penalty(gan, real, -real, None))
    assert penalty > 0
    assert (
        float(obj.gradient_penalty(GAN(small("dcgan_fashion", loss="wgan_gp", gp_weight=0.0)), real, -real, None)) == 0
    )


def test_input_aux_d_learns_classes_of_real_images_only_and_g_is_weighted():
    gan = GAN(small("cdcgan_fashion_aux", dropout=0.0))
    batch = real_batch()
    images, labels = batch["image"], batch["label"]
    logits, classes = gan.discriminate(images, labels)
    adversarial_real = float(obj.mean(gan, gan.adversarial.real(logits, 1.0)))
    adversarial_fake = float(obj.mean(gan, gan.adversarial.fake(logits, 0.0)))
    named = float(obj.class_loss(gan, classes, labels))
    out = (logits, classes)
    assert float(obj.side_loss(gan, images, labels, True, out)[0]) == pytest.approx(adversarial_real + named, rel=1e-5)
    assert float(obj.side_loss(gan, images, labels, False, out)[0]) == pytest.approx(adversarial_fake, rel=1e-5)
    # G's class term is scaled by class_weight: 0 leaves the adversarial term alone.
    g_adversarial = float(obj.mean(gan, gan.adversarial.g(logits)))
    assert float(obj.g_loss(gan, images, labels, out)) == pytest.approx(g_adversarial + named, rel=1e-5)
    unweighted = GAN(small("cdcgan_fashion_aux", dropout=0.0, class_weight=0.0))
    assert float(obj.g_loss(unweighted, images, labels, out)) == pytest.approx(g_adversarial, rel=1e-5)
