"""The eager training loop: everything around the traced step (checkpoints, samples, logs, progress, resume)."""

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from engine import rundir
from engine.config import Config, RunOptions
from engine.data.pipeline import check_compatible, distribute, make_dataset
from engine.data.registry import load_dataset
from engine.distribute import any_worker, resolve_jit
from engine.errors import Stopped, UserError
from engine.gan import GAN
from engine.progress_gif import write_progress_gif
from engine.quality.training import TrainingEvaluation
from engine.steps import make_train_fn
from engine.stopping import StopSignals
from imagegrid import make_grid, save_png, to_uint8


@dataclass(frozen=True)
class Plan:
    """How many steps a run takes, derived from the config, the data size and the replicas."""

    steps_per_epoch: int
    total_steps: int
    replicas: int

    @classmethod
    def make(cls, cfg: Config, num_images: int, replicas: int) -> "Plan":
        if cfg.batch_size < replicas:
            raise UserError(
                f"batch_size {cfg.batch_size} is smaller than the {replicas} replicas; use at least {replicas}"
            )
        if cfg.batch_size % replicas:
            raise UserError(
                f"batch_size {cfg.batch_size} does not split evenly across {replicas} replicas; "
                f"use a multiple of {replicas}"
            )
        per_epoch = cfg.steps_per_epoch or max(1, num_images // cfg.batch_size)
        return cls(per_epoch, cfg.steps or cfg.epochs * per_epoch, replicas)


def make_checkpoint(gan: GAN) -> tf.train.Checkpoint:
    parts = dict(
        generator=gan.generator,
        discriminator=gan.discriminator,
        g_optimizer=gan.g_optimizer,
        d_optimizer=gan.d_optimizer,
        step=gan.step_counter,
    )
    if gan.generator_ema is not None:
        parts["generator_ema"] = gan.generator_ema
    # Dropout's RNG state, so a resumed run draws the masks an uninterrupted one would (Keras does not track it).
    parts["rng"] = tf.train.Checkpoint(**{f"state_{i}": v for i, v in enumerate(gan.rng_states)})
    parts["skipped_steps"] = gan.skipped_steps
    return tf.train.Checkpoint(**parts)


def restore(manager: tf.train.CheckpointManager, checkpoint: tf.train.Checkpoint) -> str | None:
    """Restores the newest checkpoint that reads back whole, saying on stderr which newer ones could not.

    Returns:
      Its prefix, or None when the run has no checkpoint yet (it stopped before its first): it starts at step 0.
    Raises:
      UserError: none of the checkpoints can be restored (damaged, or from another config).
    """
    prefixes = manager.checkpoints[::-1]  # newest first
    if not prefixes:
        return None
    for prefix in prefixes:
        try:
            checkpoint.restore(prefix).assert_existing_objects_matched()
            return prefix
        except (tf.errors.OpError, AssertionError, ValueError, IndexError) as e:
            reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            print(f"note: checkpoint {prefix} cannot be restored ({reason})", file=sys.stderr)
    names = ", ".join(Path(p).name for p in prefixes)
    raise UserError(
        f"--resume: none of the checkpoints in {manager.directory} ({names}) "
        "can be restored into this run's models: they are damaged or from another config; start a new "
        "run in another --out-dir"
    ) from None


def trim_log(path: Path, step: int) -> None:
    """Drops records past `step` (written after the checkpoint a resumed run restarts from), atomically."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if _record_step(line) <= step]
    if len(kept) < len(lines):
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text("".join(kept))
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise UserError(
                f"cannot rewrite {path} ({e.strerror}); the run is unchanged: free space and resume again"
            ) from None
        tmp.replace(path)


def trim_tensorboard(directory: Path, step: int) -> None:
    """Drops TensorBoard events past `step` from the run's event files, as `trim_log` does for metrics.jsonl.

    Event files are TFRecord files of `Event` protos: each is read up to its first damaged record (a killed run's
    tail) and rewritten, atomically, with the events at or before `step`.
    """
    from tensorflow.core.util import event_pb2

    for path in sorted(directory.glob("events.out.tfevents.*")):
        kept, dropped = [], 0
        try:
            for record in tf.data.TFRecordDataset(str(path)):
                event = event_pb2.Event.FromString(record.numpy())
                if event.step <= step:
                    kept.append(record.numpy())
                else:
                    dropped += 1
        except tf.errors.DataLossError:
            dropped += 1  # a record cut short by the kill
        if dropped:
            tmp = path.with_name(path.name + ".tmp")
            with tf.io.TFRecordWriter(str(tmp)) as writer:
                for record in kept:
                    writer.write(record)
            tmp.replace(path)


def _record_step(line: str) -> float:
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return float("inf")  # a line cut short by a kill


def all_finite(gan: GAN) -> bool:
    """Whether every float value a checkpoint holds (weights, EMA, optimizer state) is finite."""
    nets = [gan.generator, gan.discriminator] + ([gan.generator_ema] if gan.generator_ema else [])
    values = [v for n in nets for v in n.weights] + gan.g_optimizer.variables + gan.d_optimizer.variables
    return all(np.isfinite(v.numpy()).all() for v in values if "float" in str(v.dtype))


def _finite_or_null(value):
    """`value` with every non-finite float (at any depth) replaced by None."""
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(v) for v in value]
    return None if isinstance(value, float) and not np.isfinite(value) else value


class RunLog:
    """Metrics as JSON lines plus TensorBoard scalars."""

    def __init__(self, run_dir: Path):
        self._file = open(run_dir / "metrics.jsonl", "a")
        self._writer = tf.summary.create_file_writer(str(run_dir / "tensorboard"))

    def write(self, step: int, record: dict) -> None:
        # A non-finite loss is written as null: bare NaN is not JSON, and readers of JSON lines would reject the file.
        self._file.write(json.dumps(_finite_or_null({"step": step, **record}), allow_nan=False) + "\n")
        self._file.flush()
        with self._writer.as_default(step=step):
            for key, value in record.items():
                if isinstance(value, (int, float)):
                    tf.summary.scalar(key, value)
        self._writer.flush()

    def close(self) -> None:
        self._file.close()
        self._writer.close()


def fixed_latents(cfg: Config) -> list:
    """One latent batch (and labels, one class per row) reused for every sample grid of a run."""
    cols = int(np.ceil(cfg.sample_count / cfg.num_classes)) if cfg.num_classes else 0
    n = cols * cfg.num_classes if cfg.num_classes else cfg.sample_count  # whole rows: one per class
    rng = np.random.default_rng(cfg.seed)
    shape = (n, cfg.latent_dim)
    z = rng.uniform(0, 1, shape) if cfg.latent_distribution == "uniform" else rng.standard_normal(shape)
    z = z.astype(np.float32)
    if cfg.num_classes:
        return [z, (np.arange(n) // cols).astype(np.int32)]
    return z


def save_samples(gan: GAN, latents, path: Path) -> None:
    images = np.asarray(gan.sampler(latents, training=False))
    cols = int(np.ceil(len(images) / gan.cfg.num_classes)) if gan.cfg.num_classes else None
    save_png(make_grid(to_uint8(images, gan.cfg.output_range), cols=cols), path)


def train(cfg: Config, opts: RunOptions, run_dir: Path | Callable[[], Path], strategy, *, resume: bool = False) -> dict:
    """Trains `cfg` under `strategy`, writing the run into `run_dir`; returns a summary dict.

    `run_dir` may be a function creating the directory: it is called only once the data, the plan and the models
    are ready, so a bad input leaves no empty run behind (and runs/latest where it was).
    The strategy must have been created (engine.distribute.make_strategy) before any other TensorFlow work.

    Raises:
      UserError: bad data or config; or the divergence guard skipped `opts.max_consecutive_skips` steps in a row, or
        the weights became non-finite: the run stops, its latest checkpoint still the last good one.
    """
    data = load_dataset(cfg.dataset, "train", opts.data_dir, cfg.image_shape)
    check_compatible(data, cfg)
    plan = Plan.make(cfg, len(data.images), strategy.num_replicas_in_sync)
    jit = resolve_jit(opts, strategy)
    if opts.deterministic:
        tf.config.experimental.enable_op_determinism()  # process-wide: kernels pick deterministic algorithms
    # The seed fixes the initial weights too, so runs with one seed start alike under any strategy or worker count.
    keras.utils.set_random_seed(cfg.seed)
    with strategy.scope():
        gan = GAN(cfg)
    run_dir = run_dir() if callable(run_dir) else run_dir
    checkpoint = make_checkpoint(gan)
    manager = tf.train.CheckpointManager(
        checkpoint, str(run_dir / rundir.CHECKPOINTS), max_to_keep=cfg.keep_checkpoints
    )
    quality = TrainingEvaluation.start(cfg, opts, run_dir, checkpoint)  # None when off; fails now if no evaluator
    step = 0
    if resume:
        prefix = restore(manager, checkpoint)
        step = int(gan.step_counter.numpy())
        if prefix is None:
            print(f"note: {run_dir} has no checkpoint yet (it stopped before its first); training it from step 0")
        else:  # the data position is the step: the pipeline's order depends only on (seed, position)
            print(
                f"resumed from {prefix} at step {step} (epoch {step // plan.steps_per_epoch + 1}, batch "
                f"{step % plan.steps_per_epoch + 1} of {plan.steps_per_epoch}): weights, optimizer and EMA state, "
                "RNG state and data position restored"
            )
        if step >= plan.total_steps:
            print(
                f"nothing to do: {run_dir} is at step {step}, and this run asks for {plan.total_steps} steps; pass "
                "a larger --steps or --epochs to train it further (nothing was changed)"
            )
            return {"run_dir": str(run_dir), "step": step}
        trim_log(run_dir / "metrics.jsonl", step)
        trim_tensorboard(run_dir / "tensorboard", step)
    else:
        rundir.write_config(run_dir, cfg, opts, data.class_names)

    dataset = make_dataset(
        data, global_batch_size=cfg.batch_size, output_range=cfg.output_range, seed=cfg.seed, start_step=step
    )
    iterator = iter(distribute(dataset, strategy))

    def make_fn(jit_compile):
        return make_train_fn(
            gan,
            strategy,
            global_batch_size=cfg.batch_size,
            jit_compile=jit_compile,
            max_consecutive_skips=opts.max_consecutive_skips,
        )

    train_fn = make_fn(jit)
    latents = fixed_latents(cfg)
    log = RunLog(run_dir)
    print(
        f"training {cfg.preset} on {data.source}: {len(data.images)} images, batch {cfg.batch_size} over "
        f"{plan.replicas} replica(s), {plan.total_steps} steps ({plan.steps_per_epoch}/epoch), "
        f"xla={'on' if jit else 'off'}, into {run_dir}"
    )
    bar = tqdm(
        total=plan.total_steps,
        initial=step,
        unit="step",
        dynamic_ncols=True,
        mininterval=0.5 if sys.stderr.isatty() else 30,
    )
    window_start, window_steps, last_log, losses, rate = time.perf_counter(), 0, step, {}, 0.0
    started, evaluating_s = time.perf_counter(), 0.0  # train_s: this process's seconds, evaluations excluded
    last_save = time.monotonic()
    # Workers of multi_worker must save at the same steps (saving uses collectives); their clocks would disagree.
    save_seconds = opts.checkpoint_every_seconds if opts.strategy != "multi_worker" else 0
    with StopSignals() as stop:  # SIGTERM/SIGINT: save at the next step boundary, then stop
        try:
            while step < plan.total_steps:
                # Run up to the next event (epoch end, checkpoint, end) in one call, at most steps_per_loop steps.
                n = min(
                    opts.steps_per_loop,
                    plan.total_steps - step,
                    plan.steps_per_epoch - step % plan.steps_per_epoch,
                    cfg.checkpoint_every - step % cfg.checkpoint_every,
                )
                try:
                    out = train_fn(iterator, tf.constant(n, tf.int32))
                except tf.errors.InvalidArgumentError as e:
                    if not (jit and "Trying to access resource" in str(e)):
                        raise
                    print("note: XLA could not compile the step on these devices; running without XLA", file=sys.stderr)
                    jit = False
                    train_fn = make_fn(False)
                    continue
                n, skipped = int(out.pop("steps")), int(out.pop("skipped"))
                losses = {k: float(v) for k, v in out.items()}
                step += n
                in_a_row = int(gan.consecutive_skips.numpy())
                if skipped:
                    print(
                        f"warning: {skipped} step(s) up to step {step} had a non-finite loss or gradient: their "
                        f"updates were skipped ({in_a_row} in a row, {int(gan.skipped_steps.numpy())} in all)",
                        file=sys.stderr,
                    )
                if in_a_row >= opts.max_consecutive_skips:
                    log.write(
                        step,
                        {
                            "epoch": step / plan.steps_per_epoch,
                            **losses,
                            "skipped_nonfinite": int(gan.skipped_steps.numpy()),
                        },
                    )
                    raise UserError(
                        f"training diverged: {in_a_row} steps in a row (to step {step}) had non-finite losses or "
                        f"gradients, so the run stopped; its latest checkpoint {_name(manager.latest_checkpoint)} is "
                        "the last good one and is intact. Lower the learning rates (--set g_lr=... --set d_lr=...) in "
                        "a new run, check the data for NaN/inf, or raise --max-consecutive-skips"
                    )
                window_steps += n
                elapsed = time.perf_counter() - window_start
                if elapsed > 2.0:
                    rate, window_start, window_steps = window_steps * cfg.batch_size / elapsed, time.perf_counter(), 0
                bar.update(n)
                bar.set_postfix({**{k: f"{v:.3f}" for k, v in losses.items()}, "img/s": f"{rate:.0f}"}, refresh=False)
                epoch_end = step % plan.steps_per_epoch == 0
                train_s = time.perf_counter() - started - evaluating_s
                # Workers of multi_worker agree (an all-reduce), so all of them save at this step and stop together.
                if any_worker(strategy, stop.requested) if opts.strategy == "multi_worker" else stop.requested:
                    log.write(
                        step,
                        {
                            "epoch": step / plan.steps_per_epoch,
                            **losses,
                            "images_per_s": rate,
                            "train_s": round(train_s, 2),
                            "skipped_nonfinite": int(gan.skipped_steps.numpy()),
                            "stopped": "signal",
                        },
                    )
                    save_checkpoint(gan, manager, step)
                    raise Stopped(
                        f"stopped at step {step} of {plan.total_steps}: checkpoint saved, resume with "
                        f"`python -m engine.train --resume --out-dir {run_dir}`",
                        stop.exit_code or 143,
                    )
                out_of_time = bool(opts.time_limit_min) and train_s >= 60.0 * opts.time_limit_min
                last = step == plan.total_steps or out_of_time
                before = time.perf_counter()
                scores = (
                    quality.at(
                        gan,
                        step=step,
                        epoch=step // plan.steps_per_epoch,
                        epoch_end=epoch_end,
                        last=last,
                        train_s=train_s,
                    )
                    if quality
                    else {}
                )
                if scores:  # the evaluation's seconds are not training time: restart the images/s window
                    window_start, window_steps = time.perf_counter(), 0
                    evaluating_s += time.perf_counter() - before
                if step - last_log >= cfg.log_every or epoch_end or last or skipped or scores:
                    log.write(
                        step,
                        {
                            "epoch": step / plan.steps_per_epoch,
                            **losses,
                            "images_per_s": rate,
                            "train_s": round(train_s, 2),
                            "skipped_nonfinite": int(gan.skipped_steps.numpy()),
                            **scores,
                        },
                    )
                    last_log = step
                if epoch_end:
                    save_samples(gan, latents, run_dir / "samples" / f"epoch_{step // plan.steps_per_epoch:03d}.png")
                    write_progress_gif(run_dir / "samples")
                timed = save_seconds and time.monotonic() - last_save >= save_seconds
                if epoch_end or step % cfg.checkpoint_every == 0 or last or timed:
                    # In a run of skipped steps nothing changed worth saving; wait for a good step (or the end).
                    if in_a_row == 0 or last:
                        save_checkpoint(gan, manager, step)
                        last_save = time.monotonic()
                if out_of_time:
                    print(
                        f"time limit: stopped after {train_s / 60:.1f} min of training, at step {step} of "
                        f"{plan.total_steps} (--resume continues)",
                        file=sys.stderr,
                    )
                    break
        except OSError as e:
            if not _disk_full(e):
                raise
            raise UserError(
                f"disk full while writing under {run_dir} at step {step}: the latest checkpoint is "
                f"{_name(manager.latest_checkpoint)}; free space and resume with `python -m engine.train "
                f"--resume --out-dir {run_dir}`"
            ) from None
        finally:
            bar.close()
            log.close()
    if step % plan.steps_per_epoch:
        save_samples(gan, latents, run_dir / "samples" / f"step_{step:06d}.png")
    gan.sampler.save(run_dir / "generator.keras")
    summary = {"run_dir": str(run_dir), "step": step, "trained": True, **losses}
    print(
        f"done: step {step}, "
        + ", ".join(f"{k} {v:.3f}" for k, v in losses.items())
        + f"; samples in {run_dir / 'samples'}, generator in {run_dir / 'generator.keras'}"
    )
    return summary


def save_checkpoint(gan: GAN, manager: tf.train.CheckpointManager, step: int) -> None:
    """Saves a checkpoint unless a weight is non-finite: a NaN checkpoint must never become the latest.

    The manager writes the files first and then names them in its `checkpoint` file (atomically, by rename), so a
    kill mid-save leaves the previous checkpoint the latest.
    """
    if not all_finite(gan):
        raise UserError(
            f"weights became non-finite at step {step}; not saved, so the latest checkpoint "
            f"{manager.latest_checkpoint or '(none yet)'} is still the last good one. Lower the learning rates "
            "(--set g_lr=... --set d_lr=...) in a new run"
        )
    try:
        manager.save(checkpoint_number=step)
    except (tf.errors.ResourceExhaustedError, OSError) as e:
        if not _disk_full(e):
            raise
        _remove_partial(Path(manager.directory), step)
        run = Path(manager.directory).parent
        raise UserError(
            f"disk full while saving ckpt-{step} under {manager.directory}: the partial files were "
            f"removed and the latest checkpoint is still {_name(manager.latest_checkpoint)}; free space "
            f"and resume with `python -m engine.train --resume --out-dir {run}`"
        ) from None


def _disk_full(e: Exception) -> bool:
    import errno

    return (
        getattr(e, "errno", None) == errno.ENOSPC
        or isinstance(e, tf.errors.ResourceExhaustedError)
        or ("No space left on device" in str(e))
    )


def _name(prefix: str | None) -> str:
    return Path(prefix).name if prefix else "none (no checkpoint yet)"


def _remove_partial(directory: Path, step: int) -> None:
    """Removes what a failed save of ckpt-`step` left (its temp folder, its files): the checkpoint state file never
    named it, so the previous checkpoint stays the latest."""
    import shutil

    for path in directory.glob(f"ckpt-{step}[._]*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
