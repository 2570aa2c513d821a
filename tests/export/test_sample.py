"""export.sample: class-per-row grids, latent walks, and the CLI running with TensorFlow unimportable."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from test_runtime import CLASSES, LATENT, tiny_generator, tiny_meta

from export.runtime import Generator, GeneratorInputError
from export.sample import interpolate_latents, interpolation_frames, sample_grid
from imagegrid import to_uint8

# Raises on any import of TensorFlow or Keras, installed before the CLI module is imported.
BLOCK_TF = """
import importlib.abc, runpy, sys
class BlockTF(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'keras', 'tf2onnx'):
            raise ImportError(f'blocked: {name}')
sys.meta_path.insert(0, BlockTF())
sys.argv = ['export.sample'] + sys.argv[1:]
runpy.run_module('export.sample', run_name='__main__')
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """{"conditional": .onnx, "unconditional": .tflite} of the tiny test generators, written by the exporters."""
    from export.onnx import write_onnx
    from export.tflite import write_tflite

    out = tmp_path_factory.mktemp("sample")
    return {
        "conditional": write_onnx(tiny_generator(CLASSES), tiny_meta(CLASSES), out / "c.onnx"),
        "unconditional": write_tflite(tiny_generator(0), tiny_meta(0), out / "u.tflite"),
    }


def cell(grid, r, c, size=8, pad=2):
    top, left = pad + r * (size + pad), pad + c * (size + pad)
    return grid[top : top + size, left : left + size]


def test_conditional_grid_has_one_class_per_row_and_one_latent_per_column(files):
    g = Generator.load(files["conditional"])
    grid = sample_grid(g, n=5, seed=3)  # 3 classes: rounded up to 2 columns
    assert grid.shape == (3 * 10 + 2, 2 * 10 + 2, 1)
    z = g.latents(2, seed=3)
    for label in range(CLASSES):
        want = to_uint8(g(z, np.full(2, label)), g.output_range)
        for col in range(2):
            np.testing.assert_array_equal(cell(grid, label, col), want[col])
    chosen = sample_grid(g, n=4, labels=[2, 0], seed=3)  # rows in the order asked
    np.testing.assert_array_equal(cell(chosen, 0, 1), cell(grid, 2, 1))
    np.testing.assert_array_equal(cell(chosen, 1, 0), cell(grid, 0, 0))
    with pytest.raises(GeneratorInputError, match=r"in \[0, 3\), got values from 0 to 3"):
        sample_grid(g, labels=[0, 3])


def test_labels_beyond_int64_are_refused_like_any_label_out_of_range(files):
    g = Generator.load(files["conditional"])
    for huge in (2**63 - 1, 10**20, -(10**20)):  # issue 35, row 10: past int64, an OverflowError
        with pytest.raises(GeneratorInputError, match=r"in \[0, 3\), got values from -?\d+ to \d+ \(the"):
            sample_grid(g, labels=[0, huge])
        with pytest.raises(GeneratorInputError, match=r"in \[0, 3\)"):
            interpolation_frames(g, steps=2, labels=[huge])


def test_unconditional_grid_and_labels_refused(files):
    g = Generator.load(files["unconditional"])
    assert sample_grid(g, n=9, seed=0).shape == (3 * 10 + 2, 3 * 10 + 2, 1)
    with pytest.raises(GeneratorInputError, match="unconditional; drop --labels"):
        sample_grid(g, labels=[0])


def test_slerp_ends_on_both_points_and_keeps_the_norm_between_equal_norm_points():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, LATENT)).astype(np.float32)
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    walk = interpolate_latents(a, b, 7, spherical=True)
    assert walk.dtype == np.float32 and walk.shape == (7, LATENT)
    np.testing.assert_allclose(walk[0], a, atol=1e-5)
    np.testing.assert_allclose(walk[-1], b, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(walk, axis=1), np.linalg.norm(a), rtol=1e-5)
    line = interpolate_latents(a, b, 7, spherical=False)
    np.testing.assert_allclose(line[3], (a + b) / 2, atol=1e-6)
    assert np.linalg.norm(line[3]) < np.linalg.norm(a) * 0.95  # why slerp: lerp cuts through low-norm latents
    np.testing.assert_allclose(interpolate_latents(a, a, 3, spherical=True), np.stack([a] * 3), atol=1e-6)


def test_interpolation_frames_walk_between_two_latents_per_label(files):
    g = Generator.load(files["conditional"])
    frames = interpolation_frames(g, steps=5, labels=[1, 2], seed=4)
    assert frames.shape == (2, 5, 8, 8, 1) and frames.dtype == np.uint8
    a, b = g.latents(2, seed=4)
    for row, label in enumerate((1, 2)):
        ends = to_uint8(g(np.stack([a, b]), np.full(2, label)), g.output_range)
        np.testing.assert_array_equal(frames[row, [0, -1]], ends)
    assert not np.array_equal(frames[0, 1], frames[0, 0])


def run_cli(args, cwd):
    return subprocess.run(
        [sys.executable, "-c", BLOCK_TF, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_cli_writes_grid_strip_and_gif_with_tensorflow_blocked(files, tmp_path):
    """Runs from another directory (the installed package, not the source tree) with TF unimportable."""
    result = run_cli([files["conditional"], "--n", "6", "--seed", "1", "--scale", "2"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.size == (2 * (2 * 10 + 2), 2 * (3 * 10 + 2))  # 2 columns x 3 class rows, enlarged 2x
    result = run_cli(
        [files["unconditional"], "--interpolate", "--steps", "4", "--out", "walk.png", "--gif", "walk.gif"], tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "wrote walk.png" in result.stdout and "wrote walk.gif" in result.stdout
    with Image.open(tmp_path / "walk.png") as strip, Image.open(tmp_path / "walk.gif") as gif:
        assert strip.size == (4 * 10 + 2, 10 + 2)
        assert gif.n_frames == 4 + 2  # there (4) and back without repeating the ends (2)


def test_cli_errors_are_one_line(files, tmp_path):
    result = run_cli([tmp_path / "missing.onnx"], tmp_path)
    assert result.returncode == 2 and result.stderr.strip() == f"error: {tmp_path / 'missing.onnx'}: no such file"
    result = run_cli([files["unconditional"], "--labels", "1"], tmp_path)
    assert result.returncode == 2 and result.stderr.strip().startswith("error: this generator is unconditional")
    blocked = subprocess.run(
        [
            sys.executable,
            "-c",
            BLOCK_TF.replace("runpy.run_module('export.sample', run_name='__main__')", "import tensorflow"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "blocked: tensorflow" in blocked.stderr  # the blocker does block


@pytest.mark.parametrize(
    "args, message",
    [
        (["--out", "noext"], "--out noext: the file name must end in .png"),
        (["--out", "grid.jpg"], "--out grid.jpg: the file name must end in .png"),
        (["--out", "."], "--out . is a directory; give a file path ending in .png"),
        (["--interpolate", "--gif", "walk.png"], "--gif walk.png: the file name must end in .gif"),
        (["--scale", "100000"], "--scale is at most 64"),
        (["--seed", "-1"], "--seed must be in [0, 2**64), got -1"),
    ],
    ids=["no extension", "unknown extension", "a directory", "gif name", "scale", "seed"],
)
def test_bad_output_options_are_refused_before_the_model_is_read(files, tmp_path, args, message):
    result = run_cli([tmp_path / "missing.onnx", *args], tmp_path)  # the options fail first: the file is not read
    assert result.returncode == 2 and result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir()) or all(p.name != "grid.png" for p in tmp_path.iterdir())
