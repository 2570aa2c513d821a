"""The eager training loop: everything around the traced step (checkpoints, samples, logs, progress, resume).

`run` trains what engine.run.stepper's `set_up` built into a run directory, calling `make_stepper`'s traced step;
`train` is both. The side work between traced calls (evaluation, logs, grids, the GIF, checkpoints) is a list of
actions with their own periods (engine.run.actions); the size of the next traced call is `next_call_steps`.
"""

import signal
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from engine.cluster.strategies import any_worker
from engine.config import Config, RunOptions
from engine.errors import Stopped, UserError
from engine.quality.sampling import draw_latents
from engine.run import directory as rundir
from engine.run.actions import Moment, default_actions, grid_steps
from engine.run.checkpoints import (
    checkpoint_name,
    latest_and_next,
    make_checkpoint,
    open_manager,
    restore,
    resume_command,
    save_checkpoint,
    write_failure,
)
from engine.run.evaluation import TrainingEvaluation
from engine.run.layout import GENERATOR_FILE, METRICS, SAMPLES, TENSORBOARD
from engine.run.logs import RunLog, trim_log, trim_tensorboard
from engine.run.progress import progress_bar
from engine.run.progress_gif import write_progress_gif
from engine.run.stepper import Plan, Setup, make_stepper, set_up  # noqa: F401  (Plan, set_up: re-exported)
from engine.run.stopping import StopSignals
from engine.step.gan import GAN
from imagegrid import make_grid, save_png, to_uint8


def fixed_latents(cfg: Config) -> list:
    """One latent batch (and labels, one class per row) reused for every sample grid of a run."""
    cols = int(np.ceil(cfg.sample_count / cfg.num_classes)) if cfg.num_classes else 0
    n = cols * cfg.num_classes if cfg.num_classes else cfg.sample_count  # whole rows: one per class
    z = draw_latents(np.random.default_rng(cfg.seed), n, cfg)
    if cfg.num_classes:
        return [z, (np.arange(n) // cols).astype(np.int32)]
    return z


def save_samples(gan: GAN, latents, path: Path) -> None:
    images = np.asarray(gan.sampler(latents, training=False))
    cols = int(np.ceil(len(images) / gan.cfg.num_classes)) if gan.cfg.num_classes else None
    with rundir.atomic_file(path) as tmp:  # a full disk leaves no half-written grid
        save_png(make_grid(to_uint8(images, gan.cfg.output_range), cols=cols), tmp)


def final_grid(run_dir: Path, step: int, plan: Plan) -> Path:
    """The sample grid a run ending at `step` leaves last: its epoch's grid, or samples/step_NNNNNN.png mid-epoch."""
    if step % plan.steps_per_epoch:
        return run_dir / SAMPLES / f"step_{step:06d}.png"
    return run_dir / SAMPLES / f"epoch_{step // plan.steps_per_epoch:03d}.png"


def missing_final(run_dir: Path, step: int, plan: Plan) -> list[Path]:
    """What the end of a run at `step` should have left but did not (a signal or a full disk during its last
    writes): its last grid, and a generator.keras written after its latest checkpoint."""
    missing = [] if final_grid(run_dir, step, plan).exists() else [final_grid(run_dir, step, plan)]
    generator, state = run_dir / GENERATOR_FILE, run_dir / rundir.CHECKPOINTS / rundir.CHECKPOINT_STATE
    if not generator.is_file() or (state.exists() and generator.stat().st_mtime_ns < state.stat().st_mtime_ns):
        missing.append(generator)
    return missing


def write_final(gan: GAN, latents, run_dir: Path, step: int, plan: Plan, *, only_missing: bool = False) -> list[str]:
    """The end of a run at `step`: its last grid, progress.gif, then generator.keras,
    each written whole or not at all; with `only_missing`, only what `missing_final` lists. Returns their names.

    Raises:
      UserError: a write failed for want of space or permission; the latest checkpoint is intact and `--resume`
        writes what is missing.
    """
    grid = final_grid(run_dir, step, plan)
    todo = missing_final(run_dir, step, plan) if only_missing else [p for p in (grid,) if not p.exists()]
    if not only_missing:
        todo.append(run_dir / GENERATOR_FILE)
    try:
        if grid in todo:
            save_samples(gan, latents, grid)
        if grid in todo or not only_missing:
            write_progress_gif(run_dir / SAMPLES)  # the loop rebuilds it now and then (rebuild_due); the end, always
        for path in todo:
            if path != grid:
                with rundir.atomic_file(path) as tmp:
                    gan.sampler.save(tmp)
    except (OSError, tf.errors.OpError) as e:
        reason = write_failure(e)
        if reason is None:
            raise
        latest = tf.train.latest_checkpoint(str(run_dir / rundir.CHECKPOINTS))
        raise UserError(
            f"{reason} while writing {rundir.printable_path(path)}: {latest_and_next(run_dir, latest)}"
        ) from None
    return [rundir.printable_path(p.relative_to(run_dir)) for p in todo]


def train(cfg: Config, opts: RunOptions, run_dir: Path, strategy, *, resume: bool = False, actions=()) -> dict:
    """Trains `cfg` under `strategy` into `run_dir` (continuing the run there when `resume`); returns a summary.
    `actions`: periodic tasks of the caller's (engine.run.actions), run after the loop's own after every call.

    Raises:
      UserError: bad data or config; or the divergence guard skipped `opts.max_consecutive_skips` steps in a row, or
        the weights became non-finite: the run stops, its latest checkpoint still the last good one.
      Stopped: SIGTERM/SIGINT: the run saved a checkpoint at the current step and stopped.
    """
    return run(set_up(cfg, opts, strategy), run_dir, resume=resume, actions=actions)


def run(
    setup: Setup, run_dir: Path, *, resume: bool = False, kept: bool = True, until_exit: bool = False, actions=()
) -> dict:
    """Trains what `set_up` built into `run_dir`; see `train`. `kept=False`: `run_dir` is a non-chief worker's
    throwaway copy, so the last line does not point at it. `until_exit`: the caller is a CLI that exits after this,
    so a signal after a stop is noted, never raised (engine.run.stopping).

    A resumed run that already has its steps writes what its end left unwritten (a signal or a full disk during
    the last writes), else says there is nothing to do and changes nothing.
    """
    cfg, gan = setup.cfg, setup.gan
    checkpoint = make_checkpoint(gan)
    manager = open_manager(checkpoint, run_dir / rundir.CHECKPOINTS, cfg.keep_checkpoints)
    quality = TrainingEvaluation.start(cfg, setup.opts, run_dir, checkpoint)  # None when off; fails if no evaluator
    if resume:
        step = resume_step(setup.plan, manager, checkpoint, gan, run_dir)
        if step >= setup.plan.total_steps:
            return finish_resumed(setup, run_dir, step, kept)
    else:
        step = 0
        rundir.write_config(run_dir, cfg, setup.opts, setup.data.class_names, setup.data_record)
    loop = Loop(setup, run_dir, manager, quality, step, actions)
    with StopSignals(until_exit=until_exit) as stop:  # SIGTERM/SIGINT: save at the next step boundary, then stop
        loop.run(stop)
        summary = loop.finish(kept)
    if stop.requested:  # the signal came during the last writes, which were completed
        raise Stopped(loop.complete_message(), stop.exit_code, run_dir=run_dir)
    return summary


def finish_resumed(setup: Setup, run_dir: Path, step: int, kept: bool) -> dict:
    """A resumed run already at (or past) the steps asked for: writes what its end is missing, if anything."""
    missing = missing_final(run_dir, step, setup.plan) if kept and step > 0 else []
    if not missing:
        print(
            f"nothing to do: {rundir.printable_path(run_dir)} is at step {step}, and this run asks for "
            f"{setup.plan.total_steps} steps; pass a larger --steps or --epochs to train it further (nothing was "
            "changed)"
        )
        return {"run_dir": str(run_dir), "step": step}
    written = write_final(setup.gan, fixed_latents(setup.cfg), run_dir, step, setup.plan, only_missing=True)
    print(
        f"finished {rundir.printable_path(run_dir)} at step {step}: wrote what the end of its training had left "
        "unwritten: " + ", ".join(written)
    )
    return {"run_dir": str(run_dir), "step": step, "trained": True}


def resume_step(plan: Plan, manager, checkpoint, gan: GAN, run_dir: Path) -> int:
    """Restores the newest good checkpoint and trims the logs back to its step; returns that step (0 when the run
    has no checkpoint yet). Changes nothing when the run already has the steps asked for."""
    prefix = restore(manager, checkpoint)
    step = int(gan.step_counter.numpy())
    if prefix is None:
        print(
            f"note: {rundir.printable_path(run_dir)} has no checkpoint yet (it stopped before its first); training it "
            "from step 0"
        )
    else:  # the data position is the step: the pipeline's order depends only on (seed, position)
        print(
            f"resumed from {rundir.printable_path(prefix)} at step {step} (epoch {step // plan.steps_per_epoch + 1}, "
            f"batch {step % plan.steps_per_epoch + 1} of {plan.steps_per_epoch}): weights, optimizer and EMA state, "
            "RNG state and data position restored"
        )
    if step >= plan.total_steps:
        return step  # nothing to train: `finish_resumed` says so, or writes what the end left unwritten
    trim_log(run_dir / METRICS, step)
    trim_tensorboard(run_dir / TENSORBOARD, step)
    return step


class Loop:
    """The eager loop of one run: calls the traced steps and does what is due between calls."""

    def __init__(self, setup: Setup, run_dir: Path, manager, quality, step: int, actions=()):
        self.setup, self.cfg, self.opts, self.plan, self.gan = setup, setup.cfg, setup.opts, setup.plan, setup.gan
        self.run_dir, self.manager, self.quality, self.step = run_dir, manager, quality, step
        self.stepper = make_stepper(
            self.gan,
            setup.data,
            setup.strategy,
            jit_compile=setup.jit,
            start_step=step,
            max_consecutive_skips=self.opts.max_consecutive_skips,
        )
        self.latents = fixed_latents(self.cfg)
        self.losses, self.last_log, self.in_a_row = {}, step, 0
        self.rate, self.window_start, self.window_steps = 0.0, time.perf_counter(), 0
        self.started, self.evaluating_s = time.perf_counter(), 0.0  # train_s: seconds here, evaluations excluded
        self.actions = default_actions(self.opts) + list(actions)

    def run(self, stop: StopSignals) -> None:
        """Trains to the plan's last step, the time limit, a signal (or a KeyboardInterrupt) or divergence; each ends
        as it should."""
        plan = self.plan
        auto = (" (auto: a GPU)" if self.setup.jit else " (auto: no GPU)") if self.opts.jit_compile == "auto" else ""
        limit = f"or {self.opts.time_limit_min:g} minutes " if self.opts.time_limit_min else ""
        print(
            f"training {self.cfg.preset} on {self.setup.data.source}: {len(self.setup.data.images)} images, batch "
            f"{self.cfg.batch_size} over {plan.replicas} replica(s), {plan.total_steps} steps {limit}"
            f"({plan.steps_per_epoch}/epoch), xla={'on' if self.setup.jit else 'off'}{auto}, into {self.run_dir}"
        )
        self.log, self.bar = None, None
        try:
            self.log = RunLog(self.run_dir)  # a full disk can fail it (TensorBoard's first event): the line below
            self.bar = progress_bar(plan.total_steps, self.step)
            while self.step < plan.total_steps:
                steps = next_call_steps(self.step, plan, self.cfg, self.opts.steps_per_loop, self.opts.eval_every)
                skipped = self.advance(steps)
                train_s = time.perf_counter() - self.started - self.evaluating_s
                if self.stop_requested(stop):
                    self.stop(train_s, stop.exit_code or 143)
                out_of_time = bool(self.opts.time_limit_min) and train_s >= 60.0 * self.opts.time_limit_min
                self.between_calls(train_s, skipped, last=self.step == plan.total_steps or out_of_time)
                if out_of_time:
                    print(
                        f"time limit: stopped after {train_s / 60:.1f} min of training, at step {self.step} of "
                        f"{plan.total_steps}; resume with {resume_command(self.run_dir)}",
                        file=sys.stderr,
                    )
                    break
        except KeyboardInterrupt:
            # One the stop handlers did not turn into a request (StopSignals): raised by Python code, such as a
            # notebook's, or a SIGINT where no handler could be installed. Saved and stopped as SIGINT is; not under
            # multi_worker, whose save needs every worker at the same step.
            if self.log is None or self.opts.strategy == "multi_worker":
                raise
            self.step = int(self.gan.step_counter.numpy())  # a traced call may have counted steps not added yet
            self.stop(time.perf_counter() - self.started - self.evaluating_s, 128 + signal.SIGINT)
        except (OSError, tf.errors.OpError) as e:  # a grid, a log record, TensorBoard's events
            reason = write_failure(e)
            if reason is None:
                raise
            raise UserError(
                f"{reason} while writing under {rundir.printable_path(self.run_dir)} at step {self.step}: "
                f"{latest_and_next(self.run_dir, self.manager.latest_checkpoint)}"
            ) from None
        finally:
            for opened in (self.bar, self.log):
                if opened is not None:
                    opened.close()

    def advance(self, n: int) -> int:
        """One traced call of up to `n` steps; returns how many were skipped. Stops the run if it diverged."""
        out = self.stepper(n)
        n, skipped = int(out.pop("steps")), int(out.pop("skipped"))
        self.losses = {k: float(v) for k, v in out.items()}
        self.step += n
        self.in_a_row = int(self.gan.consecutive_skips.numpy())
        if skipped:
            print(
                f"warning: {skipped} step(s) up to step {self.step} had a non-finite loss or gradient: their "
                f"updates were skipped ({self.in_a_row} in a row, {int(self.gan.skipped_steps.numpy())} in all)",
                file=sys.stderr,
            )
        if self.in_a_row >= self.opts.max_consecutive_skips:
            self.record({})
            latest = checkpoint_name(self.manager.latest_checkpoint)
            raise UserError(
                f"training diverged: {self.in_a_row} steps in a row (to step {self.step}) had non-finite losses or "
                f"gradients, so the run stopped; its latest checkpoint {latest} is the last good one and is intact. "
                "Lower the learning rates (--set g_lr=... --set d_lr=...) in a new run, check the data for NaN/inf, "
                "or raise --max-consecutive-skips"
            )
        self.window_steps += n
        elapsed = time.perf_counter() - self.window_start
        if elapsed > 2.0:
            self.rate = self.window_steps * self.cfg.batch_size / elapsed
            self.window_start, self.window_steps = time.perf_counter(), 0
        self.bar.update(n)
        postfix = {**{k: f"{v:.3f}" for k, v in self.losses.items()}, "img/s": f"{self.rate:.0f}"}
        self.bar.set_postfix(postfix, refresh=False)
        return skipped

    def stop_requested(self, stop: StopSignals) -> bool:
        # Workers of multi_worker agree (an all-reduce), so all of them save at this step and stop together.
        if self.opts.strategy == "multi_worker":
            return any_worker(self.setup.strategy, stop.requested)
        return stop.requested

    def stop(self, train_s: float, exit_code: int) -> None:
        """A signal arrived: log, save at this step and stop; at the last step, write the run's end first."""
        self.record({"images_per_s": self.rate, "train_s": round(train_s, 2), "stopped": "signal"})
        save_checkpoint(self.gan, self.manager, self.step)
        if self.step >= self.plan.total_steps:
            write_final(self.gan, self.latents, self.run_dir, self.step, self.plan)
            raise Stopped(self.complete_message(), exit_code, run_dir=self.run_dir)
        raise Stopped(
            f"stopped at step {self.step} of {self.plan.total_steps}: checkpoint saved, resume with "
            f"{resume_command(self.run_dir)}",
            exit_code,
            run_dir=self.run_dir,
        )

    def complete_message(self) -> str:
        return (
            f"stopped at step {self.step} of {self.plan.total_steps}: the run is complete (checkpoint, samples "
            f"and {GENERATOR_FILE} saved in {rundir.printable_path(self.run_dir)})"
        )

    def between_calls(self, train_s: float, skipped: int, *, last: bool) -> None:
        """What is due after a traced call, in the actions' order (engine.run.actions)."""
        step, per_epoch = self.step, self.plan.steps_per_epoch
        grid = step % grid_steps(self.plan) == 0
        moment = Moment(step, step // per_epoch, step % per_epoch == 0, grid, last, skipped, train_s)
        for action in self.actions:
            if action.due(self, moment):
                action(self, moment)

    def save_grid(self, path: Path) -> None:
        """A sample grid of the run's fixed latents at `path`."""
        save_samples(self.gan, self.latents, path)

    def record(self, extra: dict) -> None:
        """One metrics record at the current step: epoch, losses, `extra`, the skip count."""
        epoch = self.step / self.plan.steps_per_epoch
        skips = int(self.gan.skipped_steps.numpy())
        self.log.write(self.step, {"epoch": epoch, **self.losses, **extra, "skipped_nonfinite": skips})

    def finish(self, kept: bool = True) -> dict:
        """The last grid (when the run stopped mid-epoch), the generator file, the summary."""
        step, run_dir = self.step, self.run_dir
        write_final(self.gan, self.latents, run_dir, step, self.plan)
        print(
            f"done: step {step}, "
            + ", ".join(f"{k} {v:.3f}" for k, v in self.losses.items())
            + (
                f"; samples in {run_dir / SAMPLES}, generator in {run_dir / GENERATOR_FILE}"
                if kept
                else "; this worker's copy of the run is thrown away: the chief's run directory holds the results"
            )
        )
        return {"run_dir": str(run_dir), "step": step, "trained": True, **self.losses}


def next_call_steps(step: int, plan: Plan, cfg: Config, steps_per_loop: int, eval_every: int = 0) -> int:
    """Steps in the next traced call: up to the next event (an epoch's grid, an evaluated epoch's end with
    `eval_every` K epochs, a checkpoint, the end), at most `steps_per_loop`. The end of a tiny epoch without a grid
    is no event (engine.run.actions, `grid_epochs`), so such a folder still trains `steps_per_loop` steps a call."""
    evaluated = plan.steps_per_epoch * eval_every if eval_every else plan.total_steps
    return min(
        steps_per_loop,
        plan.total_steps - step,
        grid_steps(plan) - step % grid_steps(plan),
        evaluated - step % evaluated,
        cfg.checkpoint_every - step % cfg.checkpoint_every,
    )
