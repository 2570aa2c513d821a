"""Draws images from a generator for evaluation, with the latent distribution of its config."""

import numpy as np

from engine.config import Config


def draw_latents(rng: np.random.Generator, n: int, cfg: Config) -> np.ndarray:
    """`n` latents of `cfg.latent_dim` from `cfg.latent_distribution` (N(0, 1), or U[0, 1)), float32, from `rng`:
    the draw the eager loop's sample grids and the evaluation share (the traced step draws with stateless ops)."""
    shape = (n, cfg.latent_dim)
    z = rng.uniform(0, 1, shape) if cfg.latent_distribution == "uniform" else rng.standard_normal(shape)
    return z.astype(np.float32)


def generate(generator, cfg: Config, n: int, *, seed: int = 0, batch_size: int = 500, labels=None):
    """`n` images from `generator` (inference mode) and the labels they were asked for.

    Latents follow `cfg.latent_distribution`; a conditional generator gets `labels` (int [n]) when given, else every
    class in turn (balanced labels).
    Returns:
      (images float32 [n, H, W, C] in cfg.output_range, labels int32 [n] or None)
    """
    z = draw_latents(np.random.default_rng(seed), n, cfg)
    if not cfg.num_classes:
        labels = None
    elif labels is None:
        labels = (np.arange(n) % cfg.num_classes).astype(np.int32)
    else:
        labels = np.asarray(labels, np.int32)
        if labels.shape != (n,):
            raise ValueError(f"labels must be [{n}], got shape {labels.shape}")
    out = []
    for start in range(0, n, batch_size):
        chunk = slice(start, start + batch_size)
        inputs = [z[chunk], labels[chunk]] if labels is not None else z[chunk]
        out.append(np.asarray(generator(inputs, training=False), np.float32))
    return np.concatenate(out), labels
