"""Images in a generator's output range -> uint8 -> one grid PNG. numpy and Pillow only (no TensorFlow).

A package of its own because both sides use it: the engine (sample grids during training) and the TensorFlow-free
runtime (export/runtime.py); the engine never imports `export`, and the runtime never imports `engine`.
"""

import math
from pathlib import Path

import numpy as np


def to_uint8(images: np.ndarray, output_range) -> np.ndarray:
    """Maps values in [lo, hi] linearly to [0, 255].

    Args:
      images: float array of any shape.
      output_range: (lo, hi) with lo < hi, the generator's `output_range`.
    Returns:
      uint8 array of the same shape: lo -> 0, hi -> 255, rounded to nearest with ties to even (numpy `rint`, so the
      midpoint 127.5 -> 128), values outside [lo, hi] clipped, NaN -> 0.
    Raises:
      ValueError: hi <= lo.
    """
    lo, hi = (float(v) for v in output_range)
    if not hi > lo:
        raise ValueError(f"output_range must be [lo, hi] with lo < hi, got {list(output_range)}")
    scaled = (np.asarray(images, np.float32) - lo) * (255.0 / (hi - lo))
    # A diverged generator emits NaN; casting NaN to uint8 is undefined, so it is shown as black instead.
    scaled = np.nan_to_num(scaled, nan=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def make_grid(images: np.ndarray, cols: int | None = None, pad: int = 2) -> np.ndarray:
    """Tiles images row by row (image i at row i // cols, column i % cols) into one image.

    Args:
      images: uint8 [N, H, W, C], N >= 1.
      cols: images per row; defaults to ceil(sqrt(N)).
      pad: pixels of black (0) between images and around the border; empty cells are black too.
    Returns:
      uint8 [rows*(H+pad)+pad, cols*(W+pad)+pad, C] with rows = ceil(N / cols).
    Raises:
      ValueError: images is not a non-empty uint8 [N, H, W, C] array, or cols < 1 or pad < 0.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8 or len(images) == 0:
        raise ValueError(f"make_grid needs uint8 [N, H, W, C] with N >= 1, got {images.dtype} {list(images.shape)}")
    n, h, w, c = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    if cols < 1 or pad < 0:
        raise ValueError(f"make_grid needs cols >= 1 and pad >= 0, got cols={cols}, pad={pad}")
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top : top + h, left : left + w] = image
    return grid


def save_png(grid: np.ndarray, path) -> Path:
    """Writes a uint8 image as PNG: [H, W, 1] as grayscale (mode "L"), [H, W, 3] as RGB.

    Args:
      grid: uint8 [H, W, 1] or [H, W, 3], e.g. from `make_grid`.
      path: the file to write; missing parent directories are created.
    Returns:
      The path written.
    Raises:
      ValueError: grid is not uint8 [H, W, 1 or 3].
    """
    from PIL import Image  # only needed here; keeps `import imagegrid` to numpy

    grid = np.asarray(grid)
    if grid.ndim != 3 or grid.shape[-1] not in (1, 3) or grid.dtype != np.uint8:
        raise ValueError(f"save_png needs uint8 [H, W, 1] or [H, W, 3], got {grid.dtype} {list(grid.shape)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Pillow infers the mode from the array: 2-D uint8 -> "L", [H, W, 3] uint8 -> "RGB".
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)
    return path


def to_image(grid: np.ndarray, scale: int = 1):
    """A uint8 [H, W, 1] or [H, W, 3] image (e.g. from `make_grid`) as a PIL image, enlarged `scale` times (nearest
    neighbour: 28-pixel samples are small on screen). In Jupyter a PIL image shows itself as a PNG.

    Raises:
      ValueError: grid is not uint8 [H, W, 1 or 3], or scale < 1.
    """
    from PIL import Image

    grid = np.asarray(grid)
    if grid.ndim != 3 or grid.shape[-1] not in (1, 3) or grid.dtype != np.uint8:
        raise ValueError(f"to_image needs uint8 [H, W, 1] or [H, W, 3], got {grid.dtype} {list(grid.shape)}")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a whole number >= 1, got {scale!r}")
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    return Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
