"""The loop's side work is a list of actions: a periodic task defined here, outside engine/, runs in a real run at
its own period after the loop's own actions, and sees the run's state."""

import tensorflow as tf

from engine.config import RunOptions
from engine.run.actions import Checkpoint, EpochGrid, Evaluate, Log, MinuteGrid, Moment, ProgressGif, default_actions
from engine.run.loop import train


class EverySecondStep:
    """A new periodic task: notes the step, the latest checkpoint and the log's length every second step."""

    def __init__(self):
        self.seen = []

    def due(self, loop, moment: Moment) -> bool:
        return moment.step % 2 == 0

    def __call__(self, loop, moment: Moment) -> None:
        records = (loop.run_dir / "metrics.jsonl").read_text().splitlines()
        self.seen.append((moment.step, loop.manager.latest_checkpoint.rsplit("-", 1)[-1], len(records)))


def test_a_new_periodic_task_is_one_object_run_after_the_loops_own(tiny_config, data_dir, tmp_path):
    task = EverySecondStep()
    opts = RunOptions(data_dir=str(data_dir), steps_per_loop=1)
    train(tiny_config(steps=4), opts, tmp_path, tf.distribute.get_strategy(), actions=[task])
    # checkpoint_every=2 and a log every step: the loop's own checkpoint and record are written before it runs
    assert task.seen == [(2, "2", 2), (4, "4", 4)]


def test_the_default_order_evaluates_first_and_checkpoints_last():
    kinds = [type(a) for a in default_actions(RunOptions())]
    assert kinds == [Evaluate, Log, MinuteGrid, EpochGrid, ProgressGif, Checkpoint]
    assert default_actions(RunOptions(strategy="multi_worker"))[-1].seconds == 0  # workers save at the same steps
