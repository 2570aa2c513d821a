"""Picking a run's shape from a folder's image headers (engine.run.folder_plan, image_folder.summarise) and saying so:
colour, grey, palette PNGs with transparency, mixed sizes, a single size, class sub-folders, fixed-shape presets."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.data import image_folder
from engine.errors import UserError
from engine.models import MODELS
from engine.models.dcgan_any import SIZES
from engine.presets import get_preset
from engine.run import folder_plan as folder


def write(path: Path, image: Image.Image) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def rgb(size):
    return Image.new("RGB", size, (200, 30, 90))


def grey(size):
    return Image.new("L", size, 120)


def palette(colours: bool, transparent: bool = False):
    image = Image.new("P", (48, 48))
    entries = [(i, 255 - i, (3 * i) % 256) if colours else (i, i, i) for i in range(256)]
    image.putpalette([v for rgb_ in entries for v in rgb_])
    if transparent:
        image.info["transparency"] = 0
    return image


def resolve(cfg, root, *, image_size=None, unconditional=False, gpu=False):
    summary = image_folder.summarise(root)
    family = MODELS.get_or_fail(cfg.model)
    return folder.resolve(cfg, summary, family, image_size=image_size, unconditional=unconditional, gpu=gpu)


@pytest.mark.parametrize(
    "median, gpu, size",
    [
        (64, False, 32),
        (250, False, 32),
        (250, True, 224),
        (40, True, 40),
        (28, False, 28),
        (33, False, 32),
        (5, False, 8),
    ],
)
def test_pick_size_is_the_largest_built_size_under_the_median_capped_without_gpu(median, gpu, size):
    picked, why = folder.pick_size(median, SIZES, gpu=gpu)
    assert picked == size
    assert ("capped at 32 without a GPU" in why) == (median > 32 and not gpu)


@pytest.mark.parametrize("gpu, asked, minutes", [(False, False, 10.0), (False, True, 0.0), (True, False, 0.0)])
def test_the_plain_folder_command_on_a_cpu_trains_for_the_measured_minutes(gpu, asked, minutes):
    planned, line = folder.plan_minutes(gpu=gpu, asked=asked)
    assert planned == minutes and (line is not None) == bool(minutes)
    if line:
        assert line.startswith("training for 10 minutes") and "--time-limit 30" in line and "--image-size 64" in line


def test_colour_folder_of_mixed_sizes_gets_rgb_at_the_median(tmp_path):
    for i, size in enumerate([(40, 60), (50, 50), (64, 90), (100, 30), (48, 48)]):
        write(tmp_path / f"{i}.png", rgb(size))
    cfg, line = resolve(get_preset("folder"), tmp_path, gpu=True)
    assert cfg.image_shape == (48, 48, 3)  # shorter sides 40, 50, 64, 30, 48: median 48, which dcgan_any builds
    assert line.startswith("image shape 48x48x3 (RGB) picked from 5 images under")
    assert "median shorter side, 48 px" in line and "--image-size N" in line and "\n" not in line


def test_grey_folder_of_one_size_gets_one_channel(tmp_path):
    for i in range(3):
        write(tmp_path / f"{i}.png", grey((28, 28)))
    cfg, line = resolve(get_preset("folder"), tmp_path)
    assert cfg.image_shape == (28, 28, 1) and "all grey" in line


@pytest.mark.parametrize("colours, channels", [(True, 3), (False, 1)])
def test_palette_pngs_with_transparency_are_colour_only_when_the_palette_is(tmp_path, colours, channels):
    write(tmp_path / "a.png", palette(colours, transparent=True))
    with Image.open(tmp_path / "a.png") as image:
        assert image.mode == "P" and "transparency" in image.info
    cfg, _ = resolve(get_preset("folder"), tmp_path, gpu=True)
    assert cfg.image_shape == (48, 48, channels)
    data = image_folder.load("all", data_dir=str(tmp_path), image_shape=cfg.image_shape)
    assert data.images.shape == (1, 48, 48, channels)


def test_image_size_flag_and_its_errors(tmp_path):
    write(tmp_path / "a.png", rgb((64, 64)))
    cfg, line = resolve(get_preset("folder"), tmp_path, image_size=32)
    assert cfg.image_shape == (32, 32, 3) and "--image-size" in line
    with pytest.raises(UserError, match="--image-size 30: dcgan_any builds"):
        resolve(get_preset("folder"), tmp_path, image_size=30)
    with pytest.raises(UserError, match="fixed shape 40x40x3"):
        resolve(get_preset("dcgan_faces"), tmp_path, image_size=32)


def test_class_sub_folders_make_the_conditional_model_unless_unconditional(tmp_path):
    for name in ("cats", "dogs", "owls"):
        write(tmp_path / name / "a.png", rgb((32, 32)))
    cfg, line = resolve(get_preset("folder"), tmp_path)
    assert (cfg.model, cfg.num_classes) == ("cdcgan_any", 3) and "3 class sub-folders" in line
    cfg, line = resolve(get_preset("folder"), tmp_path, unconditional=True)
    assert (cfg.model, cfg.num_classes) == ("dcgan_any", 0) and "3 class sub-folders ignored (--unconditional)" in line


def test_a_fixed_shape_preset_keeps_its_shape_and_says_what_converts(tmp_path):
    write(tmp_path / "a.png", rgb((64, 64)))
    cfg = dataclasses.replace(get_preset("dcgan_fashion_fast"), dataset="image_folder")
    picked, line = resolve(cfg, tmp_path)
    assert picked == cfg
    assert line.startswith("converting 1 images under") and "colour to grey" in line and "64 px to 28x28" in line
    faces, line = resolve(get_preset("dcgan_faces"), tmp_path)
    assert "colour to grey" not in line and "64 px to 40x40" in line
    write(tmp_path / "a.png", rgb((40, 40)))
    assert resolve(get_preset("dcgan_faces"), tmp_path)[1] is None  # nothing to convert: nothing said


def test_summary_counts_unreadable_headers_out(tmp_path):
    write(tmp_path / "a.png", rgb((40, 40)))
    (tmp_path / "b.png").write_bytes(b"not a png")
    summary = image_folder.summarise(tmp_path)
    assert (summary.files, summary.read, summary.colour, summary.median_side) == (2, 1, 1, 40)
    (tmp_path / "a.png").write_bytes(b"nor this")
    with pytest.raises(UserError, match="none of the 2 image files"):
        image_folder.summarise(tmp_path)


def test_sixteen_bit_png_is_scaled_to_eight_bits_not_saturated(tmp_path):
    gradient = np.tile(np.linspace(0, 65535, 40).astype(np.uint16), (40, 1))
    write(tmp_path / "a.png", Image.fromarray(gradient))  # uint16: Pillow makes it a 16-bit grey PNG
    data = image_folder.load("all", data_dir=str(tmp_path), image_shape=(40, 40, 1))
    pixels = data.images[0, ..., 0].astype(float)
    assert abs(pixels.mean() - 127.5) < 1.5 and pixels.min() <= 1 and pixels.max() >= 254
    assert (pixels == 255).mean() < 0.1


def test_a_second_any_size_family_from_outside_gets_its_own_sizes(tmp_path):
    """A family registered here (not in engine/) with sizes of its own: the folder's shape is picked among them."""
    from engine.models import dcgan_any
    from engine.models.family import MODELS, register

    register("tiny_any", dcgan_any.build_generator, dcgan_any.build_discriminator, any_size=True, sizes=(12, 20))
    try:
        for i in range(3):
            write(tmp_path / f"{i}.png", rgb((64, 64)))
        cfg = dataclasses.replace(get_preset("folder"), model="tiny_any")
        picked, line = resolve(cfg, tmp_path, gpu=True)
        assert picked.image_shape == (20, 20, 3) and "picked from 3 images" in line
        with pytest.raises(UserError, match="--image-size 32: tiny_any builds 12, 20; pick one"):
            resolve(cfg, tmp_path, image_size=32)
        with pytest.raises(ValueError, match="names the sizes it builds"):
            register("no_sizes_any", dcgan_any.build_generator, dcgan_any.build_discriminator, any_size=True)
    finally:
        MODELS.pop("tiny_any", None)


def test_over_a_thousand_sub_folders_train_unconditionally_and_the_line_says_why(tmp_path):
    summary = image_folder.Summary(tmp_path, 2002, 2002, 2002, 32, (), sub_folders=1001)
    cfg, line = folder.resolve(
        get_preset("folder"), summary, MODELS["dcgan_any"], image_size=None, unconditional=False, gpu=False
    )
    assert cfg.num_classes == 0 and cfg.model == "dcgan_any"
    assert "its 1,001 sub-folders are not taken as classes (at most 1,000): unconditional" in line
