"""The loop's side work as actions: each periodic task is one object with its own period, run by the eager loop after
every traced call, in a fixed order (orbit's Controller `train_actions`, Keras callbacks).

An action has `due(loop, moment) -> bool` and `__call__(loop, moment)`; `moment` says where the run is (`Moment`).
The order is the default list's: evaluate (its scores reach the later actions through `moment.scores`), log, the
grid at a minute mark, the epoch's grid, the progress GIF, the checkpoint. A new periodic task is one object passed
to `engine.run.loop.run(..., actions=[...])`: it runs after these, and nothing in the loop changes.

Tiny epochs: a folder of a few batches has an epoch every step or few, and a checkpoint (~15 MB) and a grid at each
epoch's end halved the speed of such a run. An epoch shorter than TINY_EPOCH_STEPS steps is tiny: the epoch's grid,
its checkpoint and its log record then come at every k-th epoch's end, k the fewest epochs that make TINY_EPOCH_STEPS
steps (`grid_epochs`), and at the run's end as always; `checkpoint_every`, `--checkpoint-every-seconds` and
`--eval-every` (in epochs, as asked) are kept.
"""

import math
import time
from dataclasses import dataclass, field

from engine.run.checkpoints import save_checkpoint
from engine.run.layout import SAMPLES, minute_grid
from engine.run.progress_gif import rebuild_due, write_progress_gif

TINY_EPOCH_STEPS = 50  # an epoch shorter than this many steps is tiny: its end is not worth a checkpoint and a grid


@dataclass
class Moment:
    """Where the run is after a traced call: its step and epoch, whether this ends an epoch, whether that epoch gets
    its grid and checkpoint (every epoch, or every k-th when epochs are tiny: `grid_epochs`), whether this ends the
    run, the steps skipped in the call, the training seconds so far (evaluations excluded), and the scores evaluated
    at it."""

    step: int
    epoch: int
    epoch_end: bool
    epoch_grid: bool
    last: bool
    skipped: int
    train_s: float
    scores: dict = field(default_factory=dict)


class Evaluate:
    """FID and friends when evaluation during training is due (engine.run.evaluation decides when)."""

    def due(self, loop, moment: Moment) -> bool:
        return loop.quality is not None

    def __call__(self, loop, moment: Moment) -> None:
        before = time.perf_counter()
        moment.scores.update(
            loop.quality.at(
                loop.gan,
                step=moment.step,
                epoch=moment.epoch,
                epoch_end=moment.epoch_end,
                last=moment.last,
                train_s=moment.train_s,
            )
        )
        if moment.scores:  # the evaluation's seconds are not training time: restart the images/s window
            loop.window_start, loop.window_steps = time.perf_counter(), 0
            loop.evaluating_s += time.perf_counter() - before


class Log:
    """A metrics record every `log_every` steps and at any event (an epoch's grid, the run's end, a skip, a score)."""

    def due(self, loop, moment: Moment) -> bool:
        event = moment.epoch_grid or moment.last or bool(moment.skipped) or bool(moment.scores)
        return log_due(moment.step, loop.last_log, loop.cfg.log_every, event)

    def __call__(self, loop, moment: Moment) -> None:
        loop.record({"images_per_s": loop.rate, "train_s": round(moment.train_s, 2), **moment.scores})
        loop.last_log = moment.step


class MinuteGrid:
    """samples/minute_M.png when a `--eval-at-minutes` mark was scored."""

    def due(self, loop, moment: Moment) -> bool:
        return "at_minute" in moment.scores

    def __call__(self, loop, moment: Moment) -> None:
        loop.save_grid(loop.run_dir / SAMPLES / minute_grid(moment.scores["at_minute"]))


class EpochGrid:
    """samples/epoch_NNN.png at each epoch's end (every k-th when epochs are tiny), from the run's fixed latents."""

    def due(self, loop, moment: Moment) -> bool:
        return moment.epoch_grid

    def __call__(self, loop, moment: Moment) -> None:
        loop.save_grid(loop.run_dir / SAMPLES / f"epoch_{moment.epoch:03d}.png")


class ProgressGif:
    """samples/progress.gif after an epoch's grid, when rebuilding it is cheap enough (engine.run.progress_gif)."""

    def __init__(self):
        self.last, self.cost_s = None, 0.0  # when it was last rebuilt, and what that took

    def due(self, loop, moment: Moment) -> bool:
        return moment.epoch_grid and rebuild_due(time.monotonic(), self.last, self.cost_s)

    def __call__(self, loop, moment: Moment) -> None:
        before = time.monotonic()
        write_progress_gif(loop.run_dir / SAMPLES)
        self.last = time.monotonic()
        self.cost_s = self.last - before


class Checkpoint:
    """A checkpoint at each epoch's end (every k-th when epochs are tiny), every `checkpoint_every` steps, at the end,
    and every `checkpoint_every_seconds` (not under multi_worker, whose workers must save at the same steps); in a run
    of skipped steps nothing changed worth saving, so it waits for a good step (or the end)."""

    def __init__(self, seconds: float):
        self.seconds, self.last = seconds, time.monotonic()

    def due(self, loop, moment: Moment) -> bool:
        timed = bool(self.seconds) and time.monotonic() - self.last >= self.seconds
        scheduled = checkpoint_due(moment.step, loop.plan, loop.cfg, last=moment.last, timed=timed)
        return scheduled and (loop.in_a_row == 0 or moment.last)

    def __call__(self, loop, moment: Moment) -> None:
        save_checkpoint(loop.gan, loop.manager, moment.step)
        self.last = time.monotonic()


def default_actions(opts) -> list:
    """The loop's own side work, in its order (`opts`: the run's RunOptions)."""
    # Workers of multi_worker must save at the same steps (saving uses collectives); their clocks would disagree.
    seconds = opts.checkpoint_every_seconds if opts.strategy != "multi_worker" else 0
    return [Evaluate(), Log(), MinuteGrid(), EpochGrid(), ProgressGif(), Checkpoint(seconds)]


def grid_epochs(steps_per_epoch: int) -> int:
    """Epochs from one epoch grid (and epoch-end checkpoint) to the next: 1, or when an epoch is tiny (under
    TINY_EPOCH_STEPS steps) the fewest epochs that make that many steps: 50 for a 1-step epoch, 7 for 8 steps."""
    return max(1, math.ceil(TINY_EPOCH_STEPS / steps_per_epoch))


def grid_steps(plan) -> int:
    """Steps from one epoch grid and epoch-end checkpoint to the next: a whole number of epochs (`grid_epochs`)."""
    return plan.steps_per_epoch * grid_epochs(plan.steps_per_epoch)


def log_due(step: int, last_log: int, log_every: int, event: bool) -> bool:
    """A metrics record is due every `log_every` steps, and at any event (epoch end, end, a skip, a score)."""
    return step - last_log >= log_every or event


def checkpoint_due(step: int, plan, cfg, *, last: bool, timed: bool) -> bool:
    """A checkpoint is due at each epoch end (every k-th when epochs are tiny: `grid_epochs`), every
    `checkpoint_every` steps, at the end and when the clock says."""
    return step % grid_steps(plan) == 0 or step % cfg.checkpoint_every == 0 or last or timed
