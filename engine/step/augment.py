"""Differentiable augmentation of every image D sees, real and generated (DiffAugment, Zhao et al. 2020).

`augment(images, policy, p, seed)` applies each transform of `policy` to each image independently with
probability `p` (the ADA form, Karras et al. 2020: at p = 0 it is the identity, exactly), in this order:
  translation  a shift by up to 1/8 of the image in x and y, the uncovered border zero (DiffAugment's "translation");
  cutout       one square of half the image's side set to zero, at a random centre (DiffAugment's "cutout");
  color        brightness + U[-0.5, 0.5), saturation x U[0, 2), contrast x U[0.5, 1.5) (DiffAugment's "color",
               on [-1, 1] images; saturation is the identity on one channel).
Every op is a multiply, an add or a batched matmul with a 0/1 shift matrix, so the gradient reaches G through it.
It runs inside the traced step where D is called (engine.step.gan.GAN.discriminate), never in the exported generator.
Randomness is stateless: `seed` is a [2] int seed, so a step's draws are fixed by (config seed, step, replica).
"""

import tensorflow as tf

from engine.config import AUGMENTATIONS

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def augment(images, policy: tuple[str, ...], p, seed):
    """`images` [b, h, w, c] with each transform of `policy` applied per image with probability `p`."""
    if not policy:
        return images
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=2 * len(AUGMENTATIONS))
    dtype = images.dtype
    x = tf.cast(images, tf.float32)
    for i, name in enumerate(AUGMENTATIONS):
        if name in policy:
            on = tf.random.stateless_uniform([tf.shape(x)[0]], seeds[2 * i]) < tf.cast(p, tf.float32)
            x = TRANSFORMS[name](x, on, seeds[2 * i + 1])
    return tf.cast(x, dtype)


def _shift_matrices(n, size, shifts):
    """[b, n, n] 0/1 matrices S with (S @ v)[i] = v[i - shift] (zero where i - shift is outside 0..n-1)."""
    rows = tf.range(n)[None, :, None]
    cols = tf.range(n)[None, None, :]
    return tf.cast(tf.equal(rows - shifts[:, None, None], cols), tf.float32)


def translation(x, on, seed):
    """Shift each image by integers in [-h/8, h/8] x [-w/8, w/8] (0 where `on` is false); borders become 0."""
    b, h, w = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
    hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
    most = tf.stack([tf.round(hf * TRANSLATION_RATIO), tf.round(wf * TRANSLATION_RATIO)])
    u = tf.random.stateless_uniform([b, 2], seed)
    shifts = tf.cast(tf.floor(u * (2.0 * most + 1.0)) - most, tf.int32) * tf.cast(on, tf.int32)[:, None]
    sy = _shift_matrices(h, h, shifts[:, 0])  # [b, h, h]
    sx = _shift_matrices(w, w, shifts[:, 1])  # [b, w, w]
    x = tf.einsum("bij,bjwc->biwc", sy, x)
    return tf.einsum("bkw,bhwc->bhkc", sx, x)


def cutout(x, on, seed):
    """Zero one (h/2 x w/2) square per image, centred uniformly (clipped at the border), where `on`."""
    b, h, w = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
    ch = tf.cast(tf.cast(h, tf.float32) * CUTOUT_RATIO + 0.5, tf.int32)
    cw = tf.cast(tf.cast(w, tf.float32) * CUTOUT_RATIO + 0.5, tf.int32)
    u = tf.random.stateless_uniform([b, 2], seed)
    cy = tf.cast(u[:, 0] * tf.cast(h + 1 - ch % 2, tf.float32), tf.int32)
    cx = tf.cast(u[:, 1] * tf.cast(w + 1 - cw % 2, tf.float32), tf.int32)
    ys, xs = tf.range(h)[None, :], tf.range(w)[None, :]
    inside_y = tf.logical_and(ys >= (cy - ch // 2)[:, None], ys < (cy - ch // 2 + ch)[:, None])  # [b, h]
    inside_x = tf.logical_and(xs >= (cx - cw // 2)[:, None], xs < (cx - cw // 2 + cw)[:, None])  # [b, w]
    hole = tf.logical_and(inside_y[:, :, None], inside_x[:, None, :])
    hole = tf.logical_and(hole, on[:, None, None])
    return x * (1.0 - tf.cast(hole, tf.float32))[..., None]


def color(x, on, seed):
    """Brightness, saturation and contrast jitter per image (DiffAugment's ranges); images not `on` pass unchanged."""
    b = tf.shape(x)[0]
    u = tf.random.stateless_uniform([3, b, 1, 1, 1], seed)
    y = x + (u[0] - 0.5)
    mean = tf.reduce_mean(y, axis=3, keepdims=True)
    y = (y - mean) * (2.0 * u[1]) + mean
    mean = tf.reduce_mean(y, axis=[1, 2, 3], keepdims=True)
    y = (y - mean) * (u[2] + 0.5) + mean
    return tf.where(on[:, None, None, None], y, x)


TRANSFORMS = {"translation": translation, "cutout": cutout, "color": color}


def adapt(p, sign_real, *, target: float, images: int, speed_images: float):
    """ADA's update of the probability: up when D's mean sign on real images is above `target` (D too sure: it is
    memorising), down below it, by `images` / `speed_images` per step (so p can cross 0..1 in `speed_images`
    images), clipped to [0, 1]."""
    step = tf.sign(sign_real - target) * (images / speed_images)
    return tf.clip_by_value(p + step, 0.0, 1.0)
