"""`python -m engine.train --data-dir FOLDER` as a user runs it: the folder preset is implied, the shape picked and
said in one line, class sub-folders make the conditional model, and the run exports (z, label) and samples in
colour without TensorFlow. The commands run in this process as `python -m` runs them (tests/commands.py)."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from tests.commands import run_module


@pytest.fixture
def cli(tmp_path, capsys, monkeypatch):
    """`cli("engine.train", ...)`: the command run from tmp_path, its result as .returncode, .stdout, .stderr."""
    monkeypatch.chdir(tmp_path)

    def run(*args):
        code, out, err = run_module(args, capsys, monkeypatch)
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    return run


def class_folder(root: Path) -> Path:
    """Three classes of 24x24 RGBA PNGs (a coloured disc on transparency), 6 images each."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:24, :24]
    for k, (name, colour) in enumerate([("hearts", (220, 20, 60)), ("leaves", (30, 160, 40)), ("seas", (20, 60, 220))]):
        (root / name).mkdir(parents=True)
        for i in range(6):
            cy, cx = rng.uniform(8, 16, 2)
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 < 30 + 10 * k
            rgba = np.zeros((24, 24, 4), np.uint8)
            rgba[disc] = (*colour, 255)
            Image.fromarray(rgba, "RGBA").save(root / name / f"{i}.png")
    return root


def test_a_class_folder_trains_conditional_rgb_and_exports_z_and_label(cli, tmp_path):
    data = class_folder(tmp_path / "images")
    trained = cli("engine.train", "--data-dir", str(data), "--steps", "2", "--batch-size", "6", "--out-dir", "run")
    assert trained.returncode == 0, trained.stderr
    picked = [line for line in trained.stdout.splitlines() if line.startswith("image shape")]
    assert len(picked) == 1
    assert "24x24x3 (RGB) picked from 18 images" in picked[0] and "3 class sub-folders" in picked[0]
    config = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert (config["preset"], config["model"], config["num_classes"]) == ("folder", "cdcgan_any", 3)
    assert config["image_shape"] == [24, 24, 3] and config["train_split"] == "all"

    exported = cli("export.onnx", "--run-dir", "run")
    assert exported.returncode == 0, exported.stderr
    import onnx

    model = onnx.load(str(tmp_path / "run" / "export" / "generator.onnx"))
    assert [i.name for i in model.graph.input] == ["z", "label"]

    sampled = cli("export.sample", "run/export/generator.onnx", "--n", "6", "--out", "grid.png")
    assert sampled.returncode == 0, sampled.stderr
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.mode == "RGB"  # three channels drawn (an untrained G's colours are all near grey)
    from export.runtime import Generator

    generator = Generator.load(tmp_path / "run" / "export" / "generator.onnx")
    assert generator.image_shape == (24, 24, 3) and generator.num_classes == 3


def test_dry_run_and_help_name_the_size_and_channels(cli, tmp_path):
    data = class_folder(tmp_path / "images")
    dry = cli("engine.train", "--data-dir", str(data), "--image-size", "16", "--unconditional", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "image shape 16x16x3 (RGB) picked from 18 images" in dry.stdout and "--image-size" in dry.stdout
    assert "preset folder (model dcgan_any, dataset image_folder, image 16x16x3 (RGB))" in dry.stdout
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    helped = " ".join(cli("engine.train", "--help").stdout.split())  # argparse wraps its lines
    assert "--image-size N" in helped and "channels follow the images" in helped and "--unconditional" in helped


def test_folder_flags_without_a_folder_are_one_line_errors(cli, tmp_path):
    for flag in (["--image-size", "32"], ["--unconditional"]):
        refused = cli("engine.train", *flag, "--steps", "1")
        assert refused.returncode == 2
        assert refused.stderr.strip().splitlines()[-1].startswith(f"error: {flag[0]} is for a folder of images")
        assert "Traceback" not in refused.stderr and not (tmp_path / "runs").exists()


def test_the_plain_folder_command_plans_32x32_for_10_minutes_on_a_cpu_and_says_so(cli, tmp_path):
    data = class_folder(tmp_path / "images")
    for i in range(20):  # a 64 px median side: 64x64 would be picked with a GPU, 32x32 on a CPU
        Image.fromarray(np.full((64, 64, 3), 10 * i, np.uint8)).save(data / "hearts" / f"big{i}.png")
    dry = cli("engine.train", "--data-dir", str(data), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "image shape 32x32x3" in dry.stdout and "capped at 32 without a GPU" in dry.stdout
    assert "training for 10 minutes" in dry.stdout and "stopping after 10 minutes of training" in dry.stdout
    asked = cli("engine.train", "--data-dir", str(data), "--steps", "5", "--dry-run")
    assert asked.returncode == 0 and "training for" not in asked.stdout and "stopping after" not in asked.stdout


def test_multi_worker_folder_runs_keep_the_presets_steps(tmp_path, capsys):
    """multi_worker refuses a time limit (the workers' clocks would disagree), so the plain plan does not set one."""
    from engine import train

    data = class_folder(tmp_path / "images")
    for strategy, minutes in (("multi_worker", 0.0), ("default", 10.0)):
        args = train.parse_args(["--data-dir", str(data), "--strategy", strategy])
        _, planned = train.fit_to_folder(args, train.build_config(args))
        assert planned == minutes
    assert capsys.readouterr().out.count("training for 10 minutes") == 1
