"""Images in a generator's output range -> uint8 -> one grid PNG. numpy and Pillow only (no TensorFlow)."""

import math
from pathlib import Path

import numpy as np


def to_uint8(images: np.ndarray, output_range) -> np.ndarray:
    """Maps values in [lo, hi] to [0, 255] (clipped, rounded to nearest)."""
    lo, hi = output_range
    scaled = (np.asarray(images, np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def make_grid(images: np.ndarray, cols: int | None = None, pad: int = 2) -> np.ndarray:
    """Tiles uint8 images [N, H, W, C] row by row into one [rows*(H+pad)+pad, cols*(W+pad)+pad, C] image.

    cols defaults to ceil(sqrt(N)); the padding and any empty cells are black (0).
    """
    n, h, w, c = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top:top + h, left:left + w] = image
    return grid


def save_png(grid: np.ndarray, path) -> Path:
    """Writes a [H, W, 1] grid as grayscale or [H, W, 3] as RGB; creates parent directories."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)
    return path
