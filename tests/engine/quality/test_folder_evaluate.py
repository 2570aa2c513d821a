"""A run on a tiny folder of generated colour PNGs: scored during training and by `python -m engine.evaluate` in pixel
features, against half the folder, with the floor (the other half) and noise at the same N."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from engine import evaluate
from tests.engine.quality.folder_images import write_folder

FOLDER_IMAGES = 40  # halves of 20: every score at N = 20


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory, cache):
    """dcgan_faces (40x40x3, image_folder) for 2 steps of batch 8, evaluated at its end with 500 samples asked."""
    import tensorflow as tf

    from engine.config import RunOptions
    from engine.presets import get_preset
    from engine.run.loop import train

    data = write_folder(tmp_path_factory.mktemp("data") / "images", FOLDER_IMAGES)
    cfg = dataclasses.replace(
        get_preset("dcgan_faces"), batch_size=8, steps=2, epochs=0, checkpoint_every=2, log_every=1, sample_count=4
    )
    run_dir = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_ENGINE_CACHE", str(cache))
        opts = RunOptions(data_dir=str(data), eval_every=1, eval_samples=500)
        train(cfg, opts, run_dir, tf.distribute.get_strategy())
    return run_dir


def test_training_scores_a_folder_run_at_the_floors_n(folder_run, cache):
    records = [json.loads(line) for line in (folder_run / "metrics.jsonl").read_text().splitlines()]
    [scored] = [r for r in records if "fid" in r]
    assert scored["step"] == 2 and np.isfinite(scored["fid"]) and 0 <= scored["coverage"] <= 1
    assert "score" not in scored  # no classifier behind pixel features
    best = json.loads((folder_run / "checkpoints" / "best" / "best.json").read_text())
    assert best["num_samples"] == FOLDER_IMAGES // 2  # 500 asked, capped at the floor half's size
    assert list((cache / "features" / "image_folder").glob("pixels-*.npz"))


def test_evaluate_prints_and_writes_a_folder_run_next_to_floor_and_noise(folder_run, cache, monkeypatch, capsys):
    monkeypatch.setenv("GAN_ENGINE_CACHE", str(cache))
    assert evaluate.main(["--run-dir", str(folder_run), "--num-samples", "64"]) == 0
    out = capsys.readouterr().out
    result = json.loads((folder_run / "evaluation.json").read_text())
    assert result["features"]["features"] == "pixel_pca" and "evaluator" not in result
    assert result["num_samples"] == FOLDER_IMAGES // 2 and result["num_samples_asked"] == 64
    assert result["reference"]["num_images"] == FOLDER_IMAGES // 2
    for part in ("generator", "floor", "noise"):
        for key in ("fid", "kid", "kid_stderr", "precision", "recall", "density", "coverage"):
            assert isinstance(result[part][key], float), (part, key)
        assert result[part]["num_samples"] == FOLDER_IMAGES // 2
    assert result["floor"]["fid"] < result["noise"]["fid"]
    assert "floor (other half)" in out and "pixel features" in out and "the floor half holds no more" in out


@pytest.mark.slow
def test_a_conditional_folder_run_trained_by_the_cli_evaluates(tmp_path):
    """`engine.train --data-dir` on class sub-folders (the folder preset, conditional), then `engine.evaluate`."""
    data = write_folder(tmp_path / "classes", 36, size=24, classes=3)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "GAN_ENGINE_CACHE": str(tmp_path / "cache")}

    def cli(*args):
        done = subprocess.run([sys.executable, "-m", *args], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run = str(tmp_path / "run")
    cli("engine.train", "--data-dir", str(data), "--steps", "2", "--batch-size", "6", "--out-dir", run)
    out = cli("engine.evaluate", "--run-dir", run, "--num-samples", "100")
    result = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert result["num_samples"] == 18 and "intra_fid" in result["generator"] and "intra FID" in out


def test_a_file_name_that_is_not_utf8_does_not_stop_the_folder_key(tmp_path):
    """Issue 35, row 6: engine.evaluate and --eval-at-minutes failed with UnicodeEncodeError on such a name."""
    import os

    from PIL import Image

    from engine.quality.folder_judge import folder_key

    Image.new("RGB", (8, 8), (200, 10, 10)).save(tmp_path / "a.png")
    plain = folder_key(tmp_path, (8, 8, 3))
    with open(os.fsencode(tmp_path) + b"/b\xff.png", "wb") as f:
        Image.new("RGB", (8, 8), (10, 10, 200)).save(f, format="PNG")
    assert folder_key(tmp_path, (8, 8, 3)) != plain  # the new file counts, whatever its name's bytes
