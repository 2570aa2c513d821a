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


def test_resume_of_a_run_that_stopped_before_its_first_checkpoint_starts_at_step_0(tmp_path, data_dir, capsys):
    cfg, opts = tiny_config(steps=2), RunOptions(data_dir=str(data_dir))
    rundir.write_config(tmp_path, cfg, opts)  # what a run leaves when it dies before its first checkpoint
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "d_loss": 0.5}\n')
    summary = train(cfg, opts, tmp_path, tf.distribute.get_strategy(), resume=True)
    assert "has no checkpoint yet (it stopped before its first); training it from step 0" in capsys.readouterr().out
    assert summary["step"] == 2
    assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1, 2]


@pytest.mark.parametrize(
    "batch, replicas, message",
    [
        (3, 4, "smaller than the 4 replicas"),
        (30, 4, "does not split evenly across 4 replicas"),
    ],
)
def test_plan_rejects_batches_replicas_cannot_share(batch, replicas, message):
    with pytest.raises(UserError, match=message):
        Plan.make(tiny_config(batch_size=batch), 1000, replicas)


def test_plan_counts_epochs_in_whole_batches():
    plan = Plan.make(tiny_config(batch_size=128, steps=0, epochs=3), 60_000, 2)
    assert (plan.steps_per_epoch, plan.total_steps) == (468, 1404)


def test_resume_trims_tensorboard_events_past_the_checkpoint_like_the_jsonl_log(tmp_path):
    from tensorflow.core.util import event_pb2

    from engine.loop import trim_tensorboard

    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        for step in range(1, 11):
            tf.summary.scalar("d_loss", float(step), step=step)
    writer.close()
    (path,) = tmp_path.glob("events.out.tfevents.*")
    path.write_bytes(path.read_bytes() + b"\x07\x00\x00")  # a record cut short by a kill

    trim_tensorboard(tmp_path, 6)

    events = [event_pb2.Event.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]
    assert [e.step for e in events if e.summary.value] == [1, 2, 3, 4, 5, 6]


def test_metrics_log_writes_non_finite_values_as_null(tmp_path):
    from engine.loop import RunLog

    log = RunLog(tmp_path)
    log.write(3, {"d_loss": float("nan"), "g_loss": float("inf"), "fid": 2.5, "per_class": {"0": float("nan")}})
    log.close()
    line = (tmp_path / "metrics.jsonl").read_text()
    assert json.loads(line) == {"step": 3, "d_loss": None, "g_loss": None, "fid": 2.5, "per_class": {"0": None}}
    assert "NaN" not in line and "Infinity" not in line
