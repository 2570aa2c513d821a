"""samples/progress.gif: one frame per epoch grid, written during the run, extended by a resume."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from engine.config import RunOptions
from engine.run import actions
from engine.run.loop import train
from engine.run.progress_gif import write_progress_gif


def frames(path) -> list[np.ndarray]:
    with Image.open(path) as gif:
        out = []
        for i in range(gif.n_frames):
            gif.seek(i)
            out.append(np.asarray(gif.convert("L")))
        return out


def image_folder(root, n=40):
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8), "L").save(root / f"img_{i:03d}.png")
    return root


@pytest.mark.slow  # the GIF's frames and the loop's rebuilds: the tests below
def test_a_two_epoch_run_writes_one_frame_per_epoch_and_a_resume_extends_it(tiny_config, tmp_path, monkeypatch):
    # Epochs of under 50 steps are tiny and get a grid every k-th epoch only (tests/engine/run/test_tiny_epochs.py);
    # this pins one grid per epoch of epochs that are not, here 3 steps with the bound lowered to 3 (50-step epochs
    # took this test from 30 s to 60 s).
    monkeypatch.setattr(actions, "TINY_EPOCH_STEPS", 3)
    data = image_folder(tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    opts = RunOptions(data_dir=str(data))
    cfg = tiny_config(dataset="image_folder", batch_size=12, steps=0, epochs=2)  # 36 train images: 3 steps/epoch
    train(cfg, opts, run_dir, tf.distribute.get_strategy())
    gif = run_dir / "samples" / "progress.gif"
    grids = sorted((run_dir / "samples").glob("epoch_*.png"))
    assert [g.name for g in grids] == ["epoch_001.png", "epoch_002.png"]
    shown = frames(gif)
    assert len(shown) == 2
    for frame, grid in zip(shown, grids, strict=False):
        with Image.open(grid) as png:
            assert np.array_equal(frame, np.asarray(png.convert("L")))

    train(
        tiny_config(dataset="image_folder", batch_size=12, steps=0, epochs=3),
        opts,
        run_dir,
        tf.distribute.get_strategy(),
        resume=True,
    )
    assert len(frames(gif)) == 3


def test_no_grids_no_gif(tmp_path):
    assert write_progress_gif(tmp_path) is None
    assert not list(tmp_path.iterdir())


def test_a_long_run_shows_at_most_max_frames_first_and_last_in(tmp_path):
    from engine.run.progress_gif import MAX_FRAMES, shown

    assert shown(list(range(7))) == list(range(7))
    picked = shown(list(range(250)))
    assert len(picked) == MAX_FRAMES and picked[0] == 0 and picked[-1] == 249 and picked == sorted(set(picked))
    for i in range(MAX_FRAMES + 20):  # grids whose pixel value is their epoch
        Image.fromarray(np.full((4, 4), i, np.uint8), "L").save(tmp_path / f"epoch_{i + 1:03d}.png")
    gif = frames(write_progress_gif(tmp_path))
    assert len(gif) == MAX_FRAMES
    assert gif[0][0, 0] == 0 and gif[-1][0, 0] == MAX_FRAMES + 19


def test_the_loop_rebuilds_the_gif_first_then_at_most_every_30_s_and_within_5_percent_of_the_time():
    from engine.run.progress_gif import rebuild_due

    assert rebuild_due(5.0, None, 0.0)
    assert not rebuild_due(29.0, 0.0, 0.1) and rebuild_due(30.0, 0.0, 0.1)
    assert not rebuild_due(199.0, 0.0, 10.0) and rebuild_due(200.0, 0.0, 10.0)  # a 10 s rebuild: once per 200 s
