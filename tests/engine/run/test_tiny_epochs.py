"""A folder of fewer than two batches has an epoch every step (issue 35, row 17): its grids and checkpoints follow
steps, not epochs (every k-th epoch's end, k epochs making 50 steps), and the run's end is saved as always."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from engine.config import RunOptions
from engine.run import actions
from engine.run.actions import TINY_EPOCH_STEPS, checkpoint_due, grid_epochs
from engine.run.loop import next_call_steps, train
from engine.run.stepper import Plan


def one_batch_folder(root, n=14):
    """`n` 28x28 grey images: with batch 12, the train split is one batch, so every step ends an epoch."""
    rng = np.random.default_rng(0)
    root.mkdir()
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8), "L").save(root / f"img_{i:03d}.png")
    return root


def test_a_one_step_epoch_folder_checkpoints_and_draws_by_steps_not_every_step(tiny_config, tmp_path, monkeypatch):
    saved = []
    real = actions.save_checkpoint
    monkeypatch.setattr(
        actions, "save_checkpoint", lambda gan, manager, step: (saved.append(step), real(gan, manager, step))
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    opts = RunOptions(data_dir=str(one_batch_folder(tmp_path / "images")), checkpoint_every_seconds=0)
    cfg = tiny_config(dataset="image_folder", batch_size=12, steps=60, checkpoint_every=20, log_every=1000)
    summary = train(cfg, opts, run_dir, tf.distribute.get_strategy())
    assert summary["step"] == 60
    # Before: a checkpoint and a grid at each of the 60 steps. Now: checkpoint_every (20, 40), the 50th epoch's end,
    # and the end; the grids of the 50th epoch and of the end, which samples/progress.gif shows.
    assert saved == [20, 40, 50, 60]
    grids = sorted(p.name for p in (run_dir / "samples").glob("*.png"))
    assert grids == ["epoch_050.png", "epoch_060.png"]
    with Image.open(run_dir / "samples" / "progress.gif") as gif:
        assert gif.n_frames == 2
    steps = [
        int(line.split('"step": ')[1].split(",")[0])
        for line in (run_dir / "metrics.jsonl").read_text().split("\n")
        if line
    ]
    assert steps == [50, 60]  # a record at the grids' epochs and the end, not at every epoch's end


def test_tiny_epochs_are_under_50_steps_and_their_grids_at_least_50_steps_apart():
    assert TINY_EPOCH_STEPS == 50
    assert [grid_epochs(n) for n in (1, 3, 8, 25, 49, 50, 468)] == [50, 17, 7, 2, 2, 1, 1]


def test_the_calls_and_checkpoints_of_tiny_epochs_stop_at_the_grids_and_evaluated_epochs(tiny_config):
    cfg = tiny_config(checkpoint_every=500)
    plan = Plan(steps_per_epoch=3, total_steps=200, replicas=1)  # grids every 17 epochs: 51 steps
    assert next_call_steps(0, plan, cfg, steps_per_loop=10) == 10  # an epoch end at 3 stops no call
    assert next_call_steps(48, plan, cfg, steps_per_loop=10) == 3  # the grid at 51
    assert next_call_steps(0, plan, cfg, steps_per_loop=10, eval_every=2) == 6  # --eval-every 2 epochs: step 6
    due = [s for s in range(1, 201) if checkpoint_due(s, plan, cfg, last=s == 200, timed=False)]
    assert due == [51, 102, 153, 200]


@pytest.mark.parametrize("steps_per_epoch", [50, 120])
def test_epochs_of_50_steps_or_more_keep_a_grid_and_checkpoint_each(tiny_config, steps_per_epoch):
    cfg, plan = tiny_config(checkpoint_every=10_000), Plan(steps_per_epoch, 4 * steps_per_epoch, 1)
    due = [s for s in range(1, plan.total_steps + 1) if checkpoint_due(s, plan, cfg, last=False, timed=False)]
    assert due == [steps_per_epoch * k for k in (1, 2, 3, 4)]
    assert next_call_steps(steps_per_epoch - 1, plan, cfg, steps_per_loop=100) == 1
