"""image_folder: resizing to the preset's shape, skipping bad files, sub-folder labels, the split, and errors."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.data import image_folder
from engine.data.registry import DATASETS, load_dataset
from engine.data.splits import split_indices
from engine.errors import UserError


@pytest.fixture(autouse=True)
def hermetic(tmp_path, monkeypatch):
    """No test sees the real home or GAN_DATA_DIR."""
    monkeypatch.delenv("GAN_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def save(path: Path, color=(200, 30, 90), size=(250, 250)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def lfw_like(root: Path, people=("Ann", "Bob", "Cy"), per_person: int = 4) -> list[Path]:
    """`person/person_000N.jpg` files, each person a different flat color."""
    colors = [(200, 30, 90), (20, 220, 40), (10, 20, 240)]
    return [
        save(root / name / f"{name}_{i:04d}.jpg", colors[k % 3])
        for k, name in enumerate(people)
        for i in range(per_person)
    ]


def _message(e: pytest.ExceptionInfo) -> str:
    message = str(e.value)
    assert "\n" not in message
    return message


def test_registered_and_reached_through_load_dataset(tmp_path):
    assert DATASETS.get_or_fail("image_folder") is image_folder.load
    save(tmp_path / "a.png", size=(10, 20))
    data = load_dataset("image_folder", "train", data_dir=str(tmp_path), image_shape=(12, 6, 3))
    assert data.images.shape == (1, 12, 6, 3)


def test_resize_rgb_with_subfolder_labels(tmp_path):
    files = lfw_like(tmp_path / "lfw", per_person=10)
    train = image_folder.load("train", data_dir=str(tmp_path / "lfw"), image_shape=(40, 40, 3))
    test = image_folder.load("test", data_dir=str(tmp_path / "lfw"), image_shape=(40, 40, 3))
    assert train.images.shape == (27, 40, 40, 3) and test.images.shape == (3, 40, 40, 3)
    assert train.images.dtype == np.uint8 and train.labels.dtype == np.int32
    assert train.class_names == test.class_names == ("Ann", "Bob", "Cy")
    all_labels = np.repeat(np.arange(3), 10)
    np.testing.assert_array_equal(test.labels, all_labels[split_indices(30, "test")])
    np.testing.assert_array_equal(train.labels, all_labels[split_indices(30, "train")])
    # Flat colors survive JPEG + resize almost exactly; each image's color matches its folder.
    expected = np.array([(200, 30, 90), (20, 220, 40), (10, 20, 240)])[train.labels]
    assert np.abs(train.images.mean(axis=(1, 2)) - expected).max() < 4
    assert test.source == f"{tmp_path / 'lfw'} (image_folder test)" and len(files) == 30


def test_resize_grayscale_center_crops_the_long_side(tmp_path):
    image = np.zeros((60, 120), dtype=np.uint8)
    image[:, 30:90] = 255  # a white center square between black side bands
    Image.fromarray(image).save(tmp_path / "wide.png")
    data = image_folder.load("train", data_dir=tmp_path, image_shape=(28, 28, 1))
    assert data.images.shape == (1, 28, 28, 1)
    # The side bands were cropped away, not squashed in (Lanczos reads a pixel past the crop at the edges).
    assert data.images.min() >= 230 and data.images[0, :, 2:-2].min() >= 250
    assert data.labels is None and data.class_names == () and data.num_classes == 0


def test_png_with_alpha_and_palette_become_rgb(tmp_path):
    Image.new("RGBA", (32, 32), (255, 255, 255, 0)).save(tmp_path / "clear.png")
    Image.new("P", (32, 32), 3).save(tmp_path / "palette.png")
    data = image_folder.load("train", data_dir=tmp_path, image_shape=(8, 8, 3))
    assert data.images.shape == (2, 8, 8, 3)
    assert data.images[0].max() == 0  # transparent -> black


def test_corrupt_and_truncated_files_are_skipped_and_counted(tmp_path, capsys):
    for i in range(8):
        save(tmp_path / "d" / f"good{i}.jpg", size=(64, 48))
    (tmp_path / "d" / "bad_random.jpg").write_bytes(np.random.default_rng(0).bytes(3000))
    good = (tmp_path / "d" / "good0.jpg").read_bytes()
    (tmp_path / "d" / "zz_truncated.jpg").write_bytes(good[: len(good) // 2])
    (tmp_path / "d" / "notes.txt").write_text("not an image, not listed")
    files = image_folder.list_images(tmp_path / "d")
    assert [files[0].name, files[-1].name] == ["bad_random.jpg", "zz_truncated.jpg"] and len(files) == 10
    train_names = {files[i].name for i in split_indices(10, "train")}
    assert {"bad_random.jpg", "zz_truncated.jpg"} <= train_names  # both land in train with seed 0
    data = image_folder.load("train", data_dir=tmp_path / "d", image_shape=(16, 16, 3))
    assert data.images.shape == (7, 16, 16, 3)
    err = capsys.readouterr().err
    assert err == (
        f"image_folder: skipped 2 of 9 train files under {tmp_path / 'd'} that could not be read as images: "
        f"{tmp_path / 'd' / 'bad_random.jpg'}, {tmp_path / 'd' / 'zz_truncated.jpg'}\n"
    )


def test_no_readable_image_is_an_error(tmp_path):
    for i in range(3):
        (tmp_path / f"x{i}.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(UserError) as e:
        image_folder.load("train", data_dir=tmp_path, image_shape=(8, 8, 1))
    assert _message(e).startswith(f"none of the 3 train image files under {tmp_path} could be read (first: ")


def test_empty_folder_and_missing_arguments(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("")
    with pytest.raises(UserError) as e:
        image_folder.load(data_dir=tmp_path / "empty", image_shape=(8, 8, 3))
    assert _message(e) == (
        f"{tmp_path / 'empty'} has no .jpg/.jpeg/.png/.webp files (searched recursively); pass a folder of images"
    )
    with pytest.raises(
        UserError,
        match=r"^image_folder needs --data-dir DIR \(a folder of JPEG/PNG/WebP files, searched "
        r"recursively\)$",
    ):
        image_folder.load(image_shape=(8, 8, 3))
    with pytest.raises(UserError, match=r"^image_folder needs the preset's image shape$"):
        image_folder.load(data_dir=tmp_path)
    with pytest.raises(UserError, match=r"not \(8, 8, 4\)"):
        image_folder.load(data_dir=tmp_path, image_shape=(8, 8, 4))
    with pytest.raises(UserError, match=r"^--data-dir .*nowhere does not exist"):
        image_folder.load(data_dir=tmp_path / "nowhere", image_shape=(8, 8, 3))
    with pytest.raises(UserError, match=r"^unknown split 'val' for image_folder; valid: train, test, all$"):
        image_folder.load("val", data_dir=tmp_path, image_shape=(8, 8, 3))


def test_too_few_files_for_the_test_split(tmp_path):
    save(tmp_path / "one.png", size=(8, 8))
    assert len(image_folder.load("train", data_dir=tmp_path, image_shape=(8, 8, 3)).images) == 1
    with pytest.raises(UserError, match=r"has only 1 image files, too few for a test split"):
        image_folder.load("test", data_dir=tmp_path, image_shape=(8, 8, 3))


def test_labels_only_when_every_image_is_in_a_subfolder(tmp_path, monkeypatch):
    root = tmp_path / "d"
    lfw_like(root, per_person=2)
    save(root / "Ann" / "deeper" / "x.PNG", size=(8, 8))  # still under Ann; extension case is ignored
    files = image_folder.list_images(root)
    labels, names = image_folder.folder_labels(root, files)
    assert names == ("Ann", "Bob", "Cy") and list(labels) == [0, 0, 0, 1, 1, 2, 2]
    assert files[0] == root / "Ann" / "Ann_0000.jpg" and files[2] == root / "Ann" / "deeper" / "x.PNG"
    monkeypatch.setattr(image_folder, "MAX_CLASSES", 2)
    assert image_folder.folder_labels(root, files) == (None, ())
    monkeypatch.undo()
    save(root / "loose.jpg", size=(8, 8))
    assert image_folder.folder_labels(root, image_folder.list_images(root)) == (None, ())


def test_a_fifo_named_png_is_not_read(tmp_path):
    for i in range(19):
        Image.fromarray(np.full((8, 8), i, np.uint8)).save(tmp_path / f"g{i:02d}.png")
    os.mkfifo(tmp_path / "pipe.png")  # opening it for reading would block forever
    files = image_folder.list_images(tmp_path)
    assert len(files) == 19 and all(f.name != "pipe.png" for f in files)


def test_a_decompression_bomb_is_skipped_from_its_header(tmp_path, capsys, monkeypatch):
    for i in range(19):
        Image.fromarray(np.full((8, 8), i, np.uint8)).save(tmp_path / f"g{i:02d}.png")
    Image.new("L", (400, 300)).save(tmp_path / "huge.png")
    monkeypatch.setattr(image_folder, "MAX_SOURCE_PIXELS", 100_000)  # 120,000 pixels is "huge" here
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self.size) or pytest.fail("decoded"))
    with pytest.raises(ValueError, match=r"400x300 is over 100,000 pixels"):
        image_folder.decode(tmp_path / "huge.png", (8, 8, 1))
    assert not decoded


def test_a_symlinked_class_folder_is_followed_and_a_link_loop_is_not(tmp_path):
    """Issue 35, row 3: `dog -> elsewhere/dogs` is a class like any other; a link back up the tree is read once."""
    lfw_like(tmp_path / "elsewhere", people=("dogs",), per_person=3)
    root = tmp_path / "pets"
    lfw_like(root, people=("cat",), per_person=3)
    (root / "dog").symlink_to(tmp_path / "elsewhere" / "dogs", target_is_directory=True)
    (root / "cat" / "again").symlink_to(root, target_is_directory=True)  # a loop: pets/cat/again -> pets
    data = image_folder.load("all", data_dir=str(root), image_shape=(8, 8, 3))
    assert data.class_names == ("cat", "dog") and len(data.images) == 6
    np.testing.assert_array_equal(data.labels, [0, 0, 0, 1, 1, 1])


def test_a_folder_that_cannot_be_read_is_an_error_naming_it(tmp_path, monkeypatch):
    """Issue 35, row 3: an unreadable class folder is not silently dropped (chmod 000 does not stop root, so the
    refusal is simulated where the reader lists a folder)."""
    root = tmp_path / "pets"
    lfw_like(root, people=("cat", "dog"), per_person=2)
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "dog":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    for call in (
        lambda: image_folder.load("all", data_dir=str(root), image_shape=(8, 8, 3)),
        lambda: image_folder.summarise(root),
    ):
        with pytest.raises(UserError) as e:
            call()
        assert _message(e) == (
            f"{root / 'dog'} under --data-dir {root} cannot be read (Permission denied); make it readable (chmod), or "
            "move it out of the folder"
        )


def test_webp_files_are_images_too(tmp_path):
    from PIL import features

    if not features.check("webp"):
        pytest.skip("this Pillow was built without WebP")
    for i, colour in enumerate([(250, 0, 0), (0, 0, 250)]):
        Image.new("RGB", (20, 20), colour).save(tmp_path / f"{i}.webp")
    assert image_folder.holds_images(tmp_path)
    data = image_folder.load("all", data_dir=str(tmp_path), image_shape=(8, 8, 3))
    assert data.images.shape == (2, 8, 8, 3) and data.images[0, 4, 4, 0] > 200 and data.images[1, 4, 4, 2] > 200


def test_an_unreadable_data_dir_is_one_line_not_the_fashion_loaders_traceback(tmp_path, monkeypatch):
    """Issue 35, row 9: an unreadable --data-dir (non-root) went to the Fashion-MNIST loader and its PermissionError;
    deciding whether it holds images now names it (simulated: chmod 000 does not stop root)."""
    from engine import train

    root = tmp_path / "locked"
    lfw_like(root, people=("cat",), per_person=1)
    real_scandir = os.scandir
    monkeypatch.setattr(
        os,
        "scandir",
        lambda p: (
            (_ for _ in ()).throw(PermissionError(13, "Permission denied", str(p)))
            if Path(p) == root
            else real_scandir(p)
        ),
    )
    with pytest.raises(UserError) as e:
        train.implied_folder(train.parse_args(["--data-dir", str(root)]))
    assert _message(e).startswith(f"{root} under --data-dir {root} cannot be read (Permission denied)")
