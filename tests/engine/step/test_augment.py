"""engine.step.augment (DiffAugment with ADA's probability): identity at p=0, what each transform does, gradients, and
that D sees real and generated images through it; ADA's p moves the right way."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from engine.config import AUGMENTATIONS
from engine.errors import UserError
from engine.presets import get_preset
from engine.step import augment

SEED = tf.constant([3, 4], tf.int64)


def images(b=6, h=16, w=16, c=3, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, (b, h, w, c)), tf.float32)


@pytest.mark.parametrize("policy", [("translation",), ("cutout",), ("color",), AUGMENTATIONS])
def test_identity_at_probability_zero(policy):
    x = images()
    np.testing.assert_array_equal(augment.augment(x, policy, 0.0, SEED).numpy(), x.numpy())


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_each_transform_changes_every_image_at_probability_one(name):
    x = images()
    y = augment.augment(x, (name,), 1.0, SEED).numpy()
    changed = np.abs(y - x.numpy()).reshape(len(y), -1).max(axis=1) > 1e-6
    assert changed.sum() >= len(y) - 1  # a translation can draw (0, 0) for one image; not for most


def test_translation_shifts_by_whole_pixels_within_an_eighth_and_zero_fills():
    x = tf.reshape(tf.range(1, 16 * 16 + 1, dtype=tf.float32), [1, 16, 16, 1])
    x = tf.tile(x, [8, 1, 1, 1])
    y = augment.translation(x, tf.ones([8], tf.bool), SEED).numpy()[..., 0]
    for img in y:
        kept = img[img > 0]
        # every kept value is an original pixel, moved as a block: the shift is what the top-left kept value says
        row, col = np.argwhere(img > 0)[0]
        value = int(img[row, col]) - 1
        dy, dx = row - value // 16, col - value % 16
        assert abs(dy) <= 2 and abs(dx) <= 2  # 16 / 8
        assert len(kept) == (16 - abs(dy)) * (16 - abs(dx))


def test_cutout_zeroes_at_most_a_half_side_square():
    x = tf.ones([8, 16, 16, 1])
    y = augment.cutout(x, tf.ones([8], tf.bool), SEED).numpy()[..., 0]
    for img in y:
        zero = np.argwhere(img == 0)
        assert 0 < len(zero) <= 64
        (r0, c0), (r1, c1) = zero.min(axis=0), zero.max(axis=0)
        assert (r1 - r0 + 1) * (c1 - c0 + 1) == len(zero)  # one rectangle


def test_gradient_flows_through_every_transform():
    x = images()
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = augment.augment(x, AUGMENTATIONS, 1.0, SEED)
        loss = tf.reduce_sum(y * y)
    grad = tape.gradient(loss, x).numpy()
    assert np.isfinite(grad).all() and np.abs(grad).sum() > 0


def test_draws_are_fixed_by_the_seed():
    x = images()
    a = augment.augment(x, AUGMENTATIONS, 0.5, SEED).numpy()
    np.testing.assert_array_equal(a, augment.augment(x, AUGMENTATIONS, 0.5, SEED).numpy())
    assert not np.array_equal(a, augment.augment(x, AUGMENTATIONS, 0.5, SEED + 1).numpy())


def test_ada_raises_p_when_d_is_sure_of_real_images_and_lowers_it_otherwise():
    up = augment.adapt(tf.constant(0.5), tf.constant(0.9), target=0.6, images=100, speed_images=1000.0)
    down = augment.adapt(tf.constant(0.5), tf.constant(0.2), target=0.6, images=100, speed_images=1000.0)
    assert float(up) == pytest.approx(0.6) and float(down) == pytest.approx(0.4)
    assert float(augment.adapt(tf.constant(0.0), tf.constant(-1.0), target=0.6, images=1, speed_images=1.0)) == 0.0
    assert float(augment.adapt(tf.constant(1.0), tf.constant(1.0), target=0.6, images=1, speed_images=1.0)) == 1.0


def folder_config(**changes):
    base = dict(image_shape=(16, 16, 3), batch_size=8, steps=4, log_every=1, checkpoint_every=2, sample_count=4)
    return dataclasses.replace(get_preset("folder"), **{**base, **changes})


def test_d_sees_real_and_generated_images_augmented_by_independent_draws():
    from engine.step.gan import GAN

    gan = GAN(folder_config(augment="translation,cutout,color", augment_p=1.0, ada_target=0.0))
    x = images(b=4, h=16, w=16)
    plain = gan.discriminator(x, training=True).numpy()
    gan.step_counter.assign(7)
    real = gan.discriminate(x, None, real=True)[0].numpy()
    fake = gan.discriminate(x, None, real=False)[0].numpy()
    assert not np.allclose(real, plain) and not np.allclose(fake, plain) and not np.allclose(real, fake)
    gan.augment_p.assign(0.0)
    np.testing.assert_allclose(gan.discriminate(x, None, real=True)[0].numpy(), plain, rtol=1e-6, atol=1e-6)


def test_ada_probability_is_logged_moved_and_checkpointed(tmp_path):
    from engine.run.checkpoints import make_checkpoint
    from engine.step.gan import GAN
    from engine.step.traced import make_train_fn

    cfg = folder_config(augment_p=0.5, ada_target=0.01, ada_kimg=0.016)  # D is right on most real images: p rises
    gan = GAN(cfg)
    data = tf.data.Dataset.from_tensors({"image": images(b=8, h=16, w=16), "label": tf.zeros([8], tf.int32)}).repeat()
    out = make_train_fn(gan, tf.distribute.get_strategy(), jit_compile=False)(iter(data), tf.constant(1))
    assert "augment_p" in out and np.isfinite(float(out["augment_p"]))
    # Moved, by +-0.5 a step (8 images, 16 to cross 0..1): one step, as two may go up and back down to 0.5.
    assert float(gan.augment_p) in (0.0, 1.0)
    path = make_checkpoint(gan).write(str(tmp_path / "ckpt"))
    moved = float(gan.augment_p)
    gan.augment_p.assign(0.123)
    make_checkpoint(gan).read(path).expect_partial()
    assert float(gan.augment_p) == moved


@pytest.mark.parametrize(
    "change, problem",
    [
        (dict(augment="flip"), "unknown flip"),
        (dict(augment_p=1.5), "augment_p=1.5"),
        (dict(augment="", ada_target=0.6), "ada_target > 0 needs augment"),
        (dict(r1_every=0), "r1_every=0"),
        (dict(r1_weight=-1.0), "r1_weight=-1.0"),
        (dict(width=0.0), "width=0.0"),
        (dict(train_split="test"), "train_split='test'"),
    ],
)
def test_bad_small_data_settings_are_one_line_errors(change, problem):
    with pytest.raises(UserError, match="invalid config") as e:
        folder_config(**change)
    assert problem in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("field", ["l2", "gp_weight", "balance_g", "balance_d", "class_weight"])
def test_negative_weights_are_refused(field):
    with pytest.raises(UserError, match=f"{field}=-1.0 \\(must be a finite number >= 0\\)"):
        folder_config(**{field: -1.0})


@pytest.mark.parametrize("field, limit", [("latent_dim", "65,536"), ("sample_count", "4,096")])
def test_sizes_beyond_memory_are_refused_before_any_work(field, limit):
    with pytest.raises(UserError, match=f"{field}=100,000,000 \\(at most {limit}"):
        folder_config(**{field: 100_000_000})
