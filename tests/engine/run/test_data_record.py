"""A run records what it trained on, and `--resume` trains on exactly that (issue 35, rows 1, 2 and 12): the folder
is remembered (`--resume` alone works, as every printed resume command says), and a different data set (images
added, removed, renamed, class folders renamed or added) is one line naming what changed, nothing written."""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import UserError, run_cli
from engine.run import data_record
from engine.train import main as train_main
from tests.treesnap import assert_unchanged, snapshot


def two_classes(root: Path) -> Path:
    """cat/ and dog/, four 8x8 PNGs each (different sizes of file: a pattern per image)."""
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / name / f"{name}{i}.png")
    return root


def train(argv, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        run_cli(lambda: train_main([str(a) for a in argv]))
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """A 2-step run on a 2-class folder (made once; each test copies it)."""
    root = tmp_path_factory.mktemp("folder_run")
    images = two_classes(root / "images")
    argv = ["--data-dir", str(images), "--steps", "2", "--batch-size", "4", "--out-dir", str(root / "run")]
    with pytest.raises(SystemExit) as done:
        run_cli(lambda: train_main(argv))
    assert done.value.code == 0
    return root


@pytest.fixture
def copied(folder_run, tmp_path, monkeypatch):
    """(the run, its images), copied with their times (the record includes them), the run pointing at the copy."""
    shutil.copytree(folder_run / "images", tmp_path / "images", copy_function=shutil.copy2)
    shutil.copytree(folder_run / "run", tmp_path / "run", copy_function=shutil.copy2)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    config["data"]["folder"] = str(tmp_path / "images")
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "run", tmp_path / "images"


def test_a_folder_run_records_its_folder_classes_count_and_fingerprint(folder_run):
    data = json.loads((folder_run / "run" / "config.json").read_text())["data"]
    assert data["dataset"] == "image_folder" and data["folder"] == str(folder_run / "images")
    assert data["class_names"] == ["cat", "dog"] and data["images"] == 8 and len(data["fingerprint"]) == 64
    files = json.loads((folder_run / "run" / "data_files.json").read_text())["files"]
    assert [f[0] for f in files][:2] == ["cat/cat0.png", "cat/cat1.png"] and len(files) == 8


def test_resume_alone_reads_the_recorded_folder(copied, capsys):
    run, images = copied
    code, out, err = train(["--resume", "--out-dir", run, "--steps", "4", "--batch-size", "4"], capsys)
    assert code == 0, err
    assert "resumed from" in out and f"on {images}" in out


@pytest.mark.parametrize(
    "change, message",
    [
        ("add", r"1 file added: cat/new.png"),
        ("grid", r"1 file added: samples/epoch_001.png"),
        ("remove", r"1 file removed: dog/dog3.png"),
        ("rename", r"1 file renamed: dog/dog0.png -> cat/dog0.png"),
        ("swap", r"class folders added: kitten; removed: cat"),
        ("class", r"class folders added: bird"),
    ],
)
def test_resume_on_changed_data_is_one_line_naming_the_change(copied, capsys, change, message):
    run, images = copied
    if change == "add":
        shutil.copy2(images / "cat" / "cat0.png", images / "cat" / "new.png")
        os.utime(images / "cat" / "new.png", ns=(1, 1))
    elif change == "grid":  # a run's own grids written into the folder it trains on
        (images / "samples").mkdir()
        Image.new("RGB", (8, 8)).save(images / "samples" / "epoch_001.png")
    elif change == "remove":
        (images / "dog" / "dog3.png").unlink()
    elif change == "rename":
        (images / "dog" / "dog0.png").rename(images / "cat" / "dog0.png")
    elif change == "swap":
        (images / "cat").rename(images / "kitten")
    else:
        shutil.copytree(images / "dog", images / "bird")
    before = snapshot(run.parent)
    code, _, err = train(["--resume", "--out-dir", run, "--steps", "4"], capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: --resume ")
    assert "are not what the run trained on" in err and "start a new run" in err
    assert re.search(message, err), err
    assert_unchanged(before, snapshot(run.parent))


def test_resume_with_another_folder_of_other_images_is_refused(copied, tmp_path, capsys):
    run, _ = copied
    other = two_classes(tmp_path / "other")
    code, _, err = train(["--resume", "--out-dir", run, "--data-dir", other, "--steps", "4"], capsys)
    assert code == 2 and f"the run trained on {tmp_path / 'images'}" in err, err


def test_resume_with_the_same_files_moved_elsewhere_is_accepted(copied, tmp_path, capsys):
    run, images = copied
    moved = tmp_path / "moved"
    images.rename(moved)  # a rename keeps the times
    code, out, err = train(
        ["--resume", "--out-dir", run, "--data-dir", moved, "--steps", "3", "--batch-size", "4"], capsys
    )
    assert code == 0, err


def test_resume_when_the_recorded_folder_is_gone_names_it(copied, capsys):
    run, images = copied
    shutil.rmtree(images)
    code, _, err = train(["--resume", "--out-dir", run, "--steps", "4"], capsys)
    assert code == 2 and "is not there any more; pass --data-dir with the same files" in err, err


def test_differences_pairs_renamed_files_and_names_reordered_classes():
    old = {"class_names": ["a", "b"], "files": [["a/1.png", 10, 5], ["b/2.png", 20, 6]], "images": 2}
    now = {"class_names": ["a", "b"], "files": [["a/1.png", 11, 5], ["a/2.png", 20, 6]], "images": 2}
    text = data_record.differences(old, now)
    assert text == "1 file renamed: b/2.png -> a/2.png; 1 file changed (size or time): a/1.png"
    assert data_record.fingerprint(old["files"]) != data_record.fingerprint(now["files"])


def test_a_run_without_a_record_is_not_checked(tmp_path):
    from engine.config import RunOptions
    from engine.presets import get_preset
    from engine.run import directory as rundir

    rundir.write_config(tmp_path, get_preset("folder"), RunOptions(data_dir="x"))
    assert data_record.resumed_data_dir(tmp_path, get_preset("folder"), None) is None
    with pytest.raises(UserError, match="does not exist"):
        data_record.take("image_folder", str(tmp_path / "nope"))
