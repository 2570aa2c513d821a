"""Small generated colour images for the folder-evaluation tests: shapes with sharp edges and a colour each."""

from pathlib import Path

import numpy as np
from PIL import Image


def make_images(n: int, size: int = 40, seed: int = 0) -> np.ndarray:
    """`n` uint8 RGB images [n, size, size, 3]: a filled rectangle and a disc of random warm colours (red high,
    blue low: swapping channels changes the distribution) on a dark ground."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = np.zeros((n, size, size, 3), np.uint8)
    for i in range(n):
        image = np.full((size, size, 3), rng.integers(0, 40, 3), np.uint8)
        y0, x0 = rng.integers(0, size // 2, 2)
        h, w = rng.integers(size // 5, size // 2, 2)
        image[y0 : y0 + h, x0 : x0 + w] = rng.integers((150, 60, 0), (256, 200, 100))
        cy, cx, r = rng.uniform(size * 0.3, size * 0.7, 2).tolist() + [rng.uniform(size / 8, size / 4)]
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers((150, 60, 0), (256, 200, 100))
        images[i] = image
    return images


def write_folder(directory: Path, n: int, *, size: int = 40, classes: int = 0, seed: int = 0) -> Path:
    """Writes `n` PNGs of make_images into `directory` (in `classes` sub-folders c0, c1, ... when > 0)."""
    directory.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(make_images(n, size, seed)):
        target = directory / f"c{i % classes}" if classes else directory
        target.mkdir(exist_ok=True)
        Image.fromarray(image).save(target / f"{i:04d}.png")
    return directory
