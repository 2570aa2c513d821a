"""A whole (tiny) run: what it writes, resume, refusals, and the Plan arithmetic."""

import json

import pytest
import tensorflow as tf

from engine.config import RunOptions
from engine.errors import UserError
from engine.run import directory as rundir
from engine.run import reading as runread
from engine.run.loop import Plan, train


def test_run_directory_holds_everything(tiny_config, trained_run):
    assert (trained_run / "config.json").exists()
    assert (trained_run / "generator.keras").exists()
    assert list((trained_run / "tensorboard").iterdir())
    assert list((trained_run / "samples").glob("*.png"))
    records = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    # log_every 1, but the default 10 steps per traced call stop only at checkpoints (every 2): a record per call
    assert [r["step"] for r in records] == [2, 4]
    for r in records:  # D's accuracy on real and on generated images, as the MNIST tutorials print it
        assert 0.0 <= r["d_acc_real"] <= 1.0 and 0.0 <= r["d_acc_fake"] <= 1.0
    assert tf.train.latest_checkpoint(str(trained_run / "checkpoints")).endswith("ckpt-4")
    cfg, opts = runread.read_config(trained_run)
    assert cfg == tiny_config()


def test_resume_continues_the_step_counter(tiny_config, tmp_path, data_dir):
    opts = RunOptions(data_dir=str(data_dir), steps_per_loop=1)  # a record per step: each must appear once
    strategy = tf.distribute.get_strategy()
    train(tiny_config(steps=2), opts, tmp_path, strategy)
    summary = train(tiny_config(steps=5), opts, tmp_path, strategy, resume=True)
    assert summary["step"] == 5
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-5")


def test_resume_of_a_run_that_stopped_before_its_first_checkpoint_starts_at_step_0(
    tiny_config, tmp_path, data_dir, capsys
):
    cfg, opts = tiny_config(steps=2), RunOptions(data_dir=str(data_dir), steps_per_loop=1)
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
def test_plan_rejects_batches_replicas_cannot_share(tiny_config, batch, replicas, message):
    with pytest.raises(UserError, match=message):
        Plan.make(tiny_config(batch_size=batch), 1000, replicas)


def test_plan_counts_epochs_in_whole_batches(tiny_config):
    plan = Plan.make(tiny_config(batch_size=128, steps=0, epochs=3), 60_000, 2)
    assert (plan.steps_per_epoch, plan.total_steps) == (468, 1404)


def test_resume_trims_tensorboard_events_past_the_checkpoint_like_the_jsonl_log(tmp_path):
    from tensorflow.core.util import event_pb2

    from engine.run.logs import trim_tensorboard

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
    from engine.run.logs import RunLog

    log = RunLog(tmp_path)
    log.write(3, {"d_loss": float("nan"), "g_loss": float("inf"), "fid": 2.5, "per_class": {"0": float("nan")}})
    log.close()
    line = (tmp_path / "metrics.jsonl").read_text()
    assert json.loads(line) == {"step": 3, "d_loss": None, "g_loss": None, "fid": 2.5, "per_class": {"0": None}}
    assert "NaN" not in line and "Infinity" not in line


def test_each_traced_call_stops_at_the_next_event(tiny_config):
    from engine.run.loop import next_call_steps

    # Epochs of 60 steps: under 50 an epoch is tiny, and its end no event (tests/engine/run/test_tiny_epochs.py).
    cfg = tiny_config(checkpoint_every=7)
    plan = Plan(steps_per_epoch=60, total_steps=130, replicas=1)
    assert next_call_steps(0, plan, cfg, steps_per_loop=100) == 7  # the checkpoint at 7
    assert next_call_steps(56, plan, cfg, steps_per_loop=100) == 4  # the epoch end at 60
    assert next_call_steps(126, plan, cfg, steps_per_loop=100) == 4  # the end at 130 (before the checkpoint at 133)
    assert next_call_steps(0, plan, cfg, steps_per_loop=2) == 2  # never more than steps_per_loop


def test_logs_and_checkpoints_are_due_at_their_intervals_and_events(tiny_config):
    from engine.run.actions import checkpoint_due, log_due

    assert not log_due(5, last_log=3, log_every=5, event=False)
    assert log_due(8, last_log=3, log_every=5, event=False) and log_due(4, last_log=3, log_every=5, event=True)
    cfg, plan = tiny_config(checkpoint_every=40), Plan(steps_per_epoch=60, total_steps=190, replicas=1)
    due = [s for s in range(1, 191) if checkpoint_due(s, plan, cfg, last=s == 190, timed=False)]
    assert due == [40, 60, 80, 120, 160, 180, 190]
    assert checkpoint_due(7, plan, cfg, last=False, timed=True)


@pytest.mark.slow  # the default run checks the averages' update (tests/engine/step/test_objectives.py)
def test_lecam_averages_are_checkpointed_so_a_resume_ends_where_an_uninterrupted_run_does(
    tiny_config, tmp_path, data_dir
):
    opts = RunOptions(data_dir=str(data_dir))
    strategy = tf.distribute.get_strategy()
    cfg = tiny_config(steps=4, loss="hinge", lecam_weight=0.3)
    for name in ("whole", "halves"):
        (tmp_path / name).mkdir()
    train(cfg, opts, tmp_path / "whole", strategy)
    train(tiny_config(steps=2, loss="hinge", lecam_weight=0.3), opts, tmp_path / "halves", strategy)
    train(cfg, opts, tmp_path / "halves", strategy, resume=True)

    def averages(run_dir):
        reader = tf.train.load_checkpoint(str(run_dir / "checkpoints"))
        names = [name for name in reader.get_variable_to_shape_map() if name.startswith("lecam/")]
        return {name: float(reader.get_tensor(name)) for name in sorted(names)}

    whole = averages(tmp_path / "whole")
    assert len(whole) == 2 and all(value != 0.0 for value in whole.values())  # they moved, and were saved
    assert averages(tmp_path / "halves") == whole
