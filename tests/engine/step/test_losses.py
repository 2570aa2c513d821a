"""Adversarial losses on known logits."""

import numpy as np
import pytest
import tensorflow as tf

from engine.step.losses import LOSSES

REAL, FAKE = tf.constant([[2.0], [-1.0]]), tf.constant([[-2.0], [0.5]])


def softplus(x):
    return np.log1p(np.exp(x))


def test_bce_with_label_smoothing_targets():
    d = LOSSES["bce"].d(REAL, FAKE, 0.9, 0.1).numpy()
    r, f = np.array([2.0, -1.0]), np.array([-2.0, 0.5])
    # The mean over real and fake together (Keras's loss on concat(fake, real)): half the sum of the two terms.
    want = 0.5 * (0.9 * softplus(-r) + 0.1 * softplus(r) + 0.1 * softplus(-f) + 0.9 * softplus(f))
    np.testing.assert_allclose(d, want, rtol=1e-6)
    np.testing.assert_allclose(LOSSES["bce"].g(FAKE).numpy(), softplus(-f), rtol=1e-6)


def test_hinge():
    np.testing.assert_allclose(LOSSES["hinge"].d(REAL, FAKE, 1.0, 0.0).numpy(), [0.0 + 0.0, 2.0 + 1.5])
    np.testing.assert_allclose(LOSSES["hinge"].g(FAKE).numpy(), [2.0, -0.5])


def test_least_squares_uses_targets():
    np.testing.assert_allclose(
        LOSSES["lsgan"].d(REAL, FAKE, 1.0, 0.0).numpy(), 0.5 * (np.array([1.0, 4.0]) + np.array([4.0, 0.25]))
    )
    np.testing.assert_allclose(LOSSES["lsgan"].g(FAKE).numpy(), 0.5 * np.array([9.0, 0.25]))


def test_wasserstein_is_the_critic_difference_and_wants_a_penalty():
    np.testing.assert_allclose(LOSSES["wgan_gp"].d(REAL, FAKE, 1.0, 0.0).numpy(), [-4.0, 1.5])
    assert LOSSES["wgan_gp"].gradient_penalty and not LOSSES["bce"].gradient_penalty


def test_unknown_loss_lists_valid_ones():
    from engine.errors import UserError

    with pytest.raises(UserError, match="valid: bce, hinge, lsgan, wgan_gp"):
        LOSSES.get_or_fail("wgan")


def test_bce_parts_are_the_per_side_losses():
    np.testing.assert_allclose(LOSSES["bce"].real(REAL, 1.0).numpy(), softplus(-np.array([2.0, -1.0])), rtol=1e-6)
    np.testing.assert_allclose(LOSSES["bce"].fake(FAKE, 0.0).numpy(), softplus(np.array([-2.0, 0.5])), rtol=1e-6)


def test_bce_at_chance_gives_d_and_g_the_same_loss():
    # D outputs 0.5 everywhere (zero logits): the sources' loss_d = mean(0.5 * (real + fake)) = ln 2 = loss_g.
    zero = tf.zeros([4, 1])
    assert float(tf.reduce_mean(LOSSES["bce"].d(zero, zero, 1.0, 0.0))) == pytest.approx(np.log(2), rel=1e-6)
    assert float(tf.reduce_mean(LOSSES["bce"].g(zero))) == pytest.approx(np.log(2), rel=1e-6)
