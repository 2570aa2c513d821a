"""uint8 mapping, grid layout and PNG writing of imagegrid."""

import numpy as np
import pytest
from PIL import Image

from imagegrid import make_grid, save_png, to_image, to_uint8


def test_to_uint8_maps_ends_midpoint_and_clips():
    out = to_uint8(np.array([-1.0, 1.0, 0.0, -3.0, 2.0], np.float32), (-1, 1))
    assert out.dtype == np.uint8
    assert out.tolist() == [0, 255, 128, 0, 255]  # 0.0 -> 127.5 exactly, rint (ties to even) -> 128
    assert to_uint8(np.array([0.0, 0.5, 1.0]), (0, 1)).tolist() == [0, 128, 255]


def test_to_uint8_rounds_to_nearest_ties_to_even_and_maps_nan_to_black():
    identity = (0.0, 255.0)  # value v maps to v before rounding
    assert to_uint8(np.array([0.4, 0.5, 1.5, 2.6, np.nan]), identity).tolist() == [0, 0, 2, 3, 0]


def test_to_uint8_keeps_shape_and_refuses_an_empty_range():
    assert to_uint8(np.zeros((2, 3, 4, 1)), (-1, 1)).shape == (2, 3, 4, 1)
    with pytest.raises(ValueError, match="lo < hi"):
        to_uint8(np.zeros(3), (1, 1))


def test_make_grid_places_images_row_by_row_with_black_padding():
    images = np.stack([np.full((3, 4, 1), v, np.uint8) for v in (10, 20, 30)])
    grid = make_grid(images, cols=2, pad=1)
    assert grid.shape == (2 * (3 + 1) + 1, 2 * (4 + 1) + 1, 1)
    assert (grid[1:4, 1:5] == 10).all() and (grid[1:4, 6:10] == 20).all()  # row 0: images 0, 1
    assert (grid[5:8, 1:5] == 30).all()  # row 1, column 0: image 2
    assert (grid[5:8, 6:10] == 0).all()  # the empty cell
    image_pixels = 3 * 3 * 4
    assert (grid > 0).sum() == image_pixels  # every other pixel is padding, and black


def test_make_grid_default_columns_and_rgb_channels():
    images = np.zeros((5, 2, 2, 3), np.uint8)
    images[4] = [1, 2, 3]
    grid = make_grid(images, pad=0)  # ceil(sqrt(5)) = 3 columns, 2 rows
    assert grid.shape == (4, 6, 3)
    assert grid[2:4, 2:4].tolist() == [[[1, 2, 3]] * 2] * 2  # image 4 at row 1, column 1


def test_make_grid_refuses_float_or_empty_input():
    with pytest.raises(ValueError, match=r"uint8 \[N, H, W, C\]"):
        make_grid(np.zeros((2, 3, 3, 1), np.float32))
    with pytest.raises(ValueError, match=r"uint8 \[N, H, W, C\]"):
        make_grid(np.zeros((0, 3, 3, 1), np.uint8))


def test_save_png_writes_gray_and_rgb_exactly(tmp_path):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (5, 6, 1), dtype=np.uint8)
    rgb = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    gray_path = save_png(gray, tmp_path / "new" / "dir" / "g.png")  # parents are created
    rgb_path = save_png(rgb, tmp_path / "c.png")
    with Image.open(gray_path) as g, Image.open(rgb_path) as c:
        assert g.mode == "L" and g.size == (6, 5)
        assert c.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(g), gray[..., 0])
        np.testing.assert_array_equal(np.asarray(c), rgb)


def test_save_png_refuses_other_channel_counts(tmp_path):
    with pytest.raises(ValueError, match=r"\[H, W, 1\] or \[H, W, 3\]"):
        save_png(np.zeros((4, 4, 2), np.uint8), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_to_image_is_a_pil_image_enlarged_by_nearest_neighbour():
    grid = np.arange(6, dtype=np.uint8).reshape(2, 3, 1)
    image = to_image(grid, scale=2)
    assert image.mode == "L" and image.size == (6, 4)
    np.testing.assert_array_equal(np.asarray(image), grid[..., 0].repeat(2, axis=0).repeat(2, axis=1))
    rgb = to_image(np.zeros((2, 2, 3), np.uint8))
    assert rgb.mode == "RGB" and rgb.size == (2, 2)
    for bad, scale in ((grid.astype(np.float32), 1), (grid, 0), (grid, 1.5), (np.zeros((2, 2, 2), np.uint8), 1)):
        with pytest.raises(ValueError):
            to_image(bad, scale)
