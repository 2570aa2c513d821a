"""A whole (tiny) run: what it writes, resume, refusals, and the Plan arithmetic."""

import json

import pytest
import tensorflow as tf

from conftest import tiny_config
from engine import rundir
from engine.config import RunOptions
from engine.errors import UserError
from engine.loop import Plan, train


def test_run_directory_holds_everything(trained_run):
    assert (trained_run / "config.json").exists()
    assert (trained_run / "generator.keras").exists()
    assert list((trained_run / "tensorboard").iterdir())
    assert list((trained_run / "samples").glob("*.png"))
    records = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    for r in records:  # D's accuracy on real and on generated images, as the MNIST tutorials print it
        assert 0.0 <= r["d_acc_real"] <= 1.0 and 0.0 <= r["d_acc_fake"] <= 1.0
    assert tf.train.latest_checkpoint(str(trained_run / "checkpoints")).endswith("ckpt-4")
    cfg, opts = rundir.read_config(trained_run)
    assert cfg == tiny_config()


def test_resume_continues_the_step_counter(tmp_path, data_dir):
    opts = RunOptions(data_dir=str(data_dir))
    strategy = tf.distribute.get_strategy()
    train(tiny_config(steps=2), opts, tmp_path, strategy)
    summary = train(tiny_config(steps=5), opts, tmp_path, strategy, resume=True)
    assert summary["step"] == 5
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-5")


def test_resume_without_checkpoint_refuses(tmp_path, data_dir):
    with pytest.raises(UserError, match="no checkpoint"):
        train(tiny_config(), RunOptions(data_dir=str(data_dir)), tmp_path, tf.distribute.get_strategy(), resume=True)


@pytest.mark.parametrize("batch, replicas, message", [
    (3, 4, "smaller than the 4 replicas"),
    (30, 4, "does not split evenly across 4 replicas"),
])
def test_plan_rejects_batches_replicas_cannot_share(batch, replicas, message):
    with pytest.raises(UserError, match=message):
        Plan.make(tiny_config(batch_size=batch), 1000, replicas)


def test_plan_counts_epochs_in_whole_batches():
    plan = Plan.make(tiny_config(batch_size=128, steps=0, epochs=3), 60_000, 2)
    assert (plan.steps_per_epoch, plan.total_steps) == (468, 1404)
