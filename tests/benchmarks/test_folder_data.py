"""benchmarks.folder_data without the network: the Fashion subset writer on the tiny IDX fixture, and the emoji
writer on a small hand-made tarball in the npm package's layout (with members that must never be written)."""

import io
import json
import tarfile

import numpy as np
from PIL import Image

from benchmarks import folder_data
from engine.data.image_folder import list_images


def test_fashion_subset_is_the_first_n_train_images_as_grey_pngs(data_dir, tmp_path, capsys):
    from engine.data.registry import load_dataset

    out = tmp_path / "fashion_50"
    assert folder_data.main(["fashion", "--count", "50", "--out", str(out), "--data-dir", str(data_dir)]) == 0
    files = list_images(out)
    assert len(files) == 50 and files[0].name == "00.png"
    train = load_dataset("fashion_mnist", "train", data_dir)
    with Image.open(files[7]) as image:
        assert image.mode == "L" and image.size == (28, 28)
        np.testing.assert_array_equal(np.asarray(image), train.images[7, :, :, 0])
    assert json.loads((out / "SOURCE.json").read_text())["images"] == 50
    assert f"wrote 50 images to {out}" in capsys.readouterr().out

    (files[0]).unlink()  # done is done: a folder with its SOURCE.json is left as it is
    folder_data.main(["fashion", "--count", "50", "--out", str(out), "--data-dir", str(data_dir)])
    assert "already there" in capsys.readouterr().out and len(list_images(out)) == 49


def test_fashion_classes_make_one_sub_folder_per_class(data_dir, tmp_path):
    from engine.data.mnist import FASHION_MNIST

    out = tmp_path / "fashion_classes"
    folder_data.main(["fashion", "--count", "40", "--classes", "--out", str(out), "--data-dir", str(data_dir)])
    folders = {p.name for p in out.iterdir() if p.is_dir()}
    assert folders <= {folder_data.class_folder(n) for n in FASHION_MNIST.class_names} and len(folders) > 1
    assert folder_data.class_folder("T-shirt/top") == "t_shirt_top" and len(list_images(out)) == 40


def png_bytes(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (64, 64), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def fake_package(path, tmp_path):
    """A tarball like the npm package's: 3 emoji (one a skin-tone variant, one a 'Component'), plus hostile members."""
    index = [
        {"image": "1f600.png", "category": "Smileys & Emotion"},
        {"image": "1f44d.png", "category": "People & Body", "skin_variations": {"1F3FB": {"image": "1f44d-1f3fb.png"}}},
        {"image": "1f3fb.png", "category": "Component"},
    ]
    members = {
        "package/emoji.json": json.dumps(index).encode(),
        **{
            f"package/img/google/64/{n}": png_bytes((i * 60, 100, 50, 255))
            for i, n in enumerate(["1f600.png", "1f44d.png", "1f44d-1f3fb.png", "1f3fb.png"])
        },
        "package/img/google/64/../../../../escape.png": png_bytes((1, 2, 3, 255)),
        "package/img/google/64/NOT-HEX.png": png_bytes((1, 2, 3, 255)),
        "package/img/google/32/1f600.png": png_bytes((1, 2, 3, 255)),
    }
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("package/img/google/64/1f601.png")
        link.type, link.linkname = tarfile.SYMTYPE, str(tmp_path / "outside.png")
        archive.addfile(link)
    return path


def test_emoji_flat_and_by_category_from_a_cached_tarball(tmp_path, capsys):
    cache = tmp_path / "npm"
    cache.mkdir()
    fake_package(cache / folder_data.EMOJI_TARBALL, tmp_path)
    flat, classes = tmp_path / "emoji", tmp_path / "emoji_classes"
    folder_data.main(["emoji", "--out", str(flat), "--cache", str(cache)])
    assert sorted(p.name for p in list_images(flat)) == ["1f3fb.png", "1f44d-1f3fb.png", "1f44d.png", "1f600.png"]
    folder_data.main(["emoji", "--classes", "--out", str(classes), "--cache", str(cache)])
    assert sorted(str(p.relative_to(classes)) for p in list_images(classes)) == [
        "people_body/1f44d-1f3fb.png",  # a skin-tone variant goes with its emoji's category
        "people_body/1f44d.png",
        "smileys_emotion/1f600.png",
    ]  # the Component swatch dropped
    assert json.loads((classes / "SOURCE.json").read_text())["dropped"] == {"Component": 1}
    assert not (tmp_path / "escape.png").exists() and not list(tmp_path.rglob("NOT-HEX.png"))
    assert not list(tmp_path.rglob("1f601.png")) and not (tmp_path / "outside.png").exists()
    assert "npm pack" not in capsys.readouterr().out  # the cached tarball was used
