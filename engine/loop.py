"""The eager training loop: everything around the traced step (checkpoints, samples, logs, progress, resume)."""

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from engine import rundir
from engine.config import Config, RunOptions
from engine.data.pipeline import check_compatible, distribute, make_dataset
from engine.data.registry import load_dataset
from engine.distribute import resolve_jit
from engine.errors import UserError
from engine.gan import GAN
from engine.steps import make_train_fn
from export.grid import make_grid, save_png, to_uint8


@dataclass(frozen=True)
class Plan:
    """How many steps a run takes, derived from the config, the data size and the replicas."""

    steps_per_epoch: int
    total_steps: int
    replicas: int

    @classmethod
    def make(cls, cfg: Config, num_images: int, replicas: int) -> "Plan":
        if cfg.batch_size < replicas:
            raise UserError(f"batch_size {cfg.batch_size} is smaller than the {replicas} replicas; use at least {replicas}")
        if cfg.batch_size % replicas:
            raise UserError(f"batch_size {cfg.batch_size} does not split evenly across {replicas} replicas; "
                            f"use a multiple of {replicas}")
        per_epoch = max(1, num_images // cfg.batch_size)
        return cls(per_epoch, cfg.steps or cfg.epochs * per_epoch, replicas)


def make_checkpoint(gan: GAN) -> tf.train.Checkpoint:
    parts = dict(generator=gan.generator, discriminator=gan.discriminator, g_optimizer=gan.g_optimizer,
                 d_optimizer=gan.d_optimizer, step=gan.step_counter)
    if gan.generator_ema is not None:
        parts["generator_ema"] = gan.generator_ema
    return tf.train.Checkpoint(**parts)


def restore(manager: tf.train.CheckpointManager, checkpoint: tf.train.Checkpoint) -> str:
    prefix = manager.latest_checkpoint
    if prefix is None:
        raise UserError(f"--resume: no checkpoint in {manager.directory}; start a new run instead")
    try:
        checkpoint.restore(prefix).assert_existing_objects_matched()
    except (tf.errors.OpError, AssertionError, ValueError, IndexError) as e:
        raise UserError(f"--resume: checkpoint {prefix} does not fit this run's models ({str(e).splitlines()[0][:160]})") from None
    return prefix


class RunLog:
    """Metrics as JSON lines plus TensorBoard scalars."""

    def __init__(self, run_dir: Path):
        self._file = open(run_dir / "metrics.jsonl", "a")
        self._writer = tf.summary.create_file_writer(str(run_dir / "tensorboard"))

    def write(self, step: int, record: dict) -> None:
        self._file.write(json.dumps({"step": step, **record}) + "\n")
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


def train(cfg: Config, opts: RunOptions, run_dir: Path, strategy, *, resume: bool = False) -> dict:
    """Trains `cfg` under `strategy`, writing the run into `run_dir`; returns a summary dict.

    The strategy must have been created (engine.distribute.make_strategy) before any other TensorFlow work.
    """
    data = load_dataset(cfg.dataset, "train", opts.data_dir, cfg.image_shape)
    check_compatible(data, cfg)
    plan = Plan.make(cfg, len(data.images), strategy.num_replicas_in_sync)
    jit = resolve_jit(opts, strategy)
    with strategy.scope():
        gan = GAN(cfg)
    checkpoint = make_checkpoint(gan)
    manager = tf.train.CheckpointManager(checkpoint, str(run_dir / rundir.CHECKPOINTS), max_to_keep=cfg.keep_checkpoints)
    if resume:
        prefix = restore(manager, checkpoint)
        print(f"resumed from {prefix} at step {int(gan.step_counter.numpy())}")
    else:
        rundir.write_config(run_dir, cfg, opts, data.class_names)

    dataset = make_dataset(data, global_batch_size=cfg.batch_size, output_range=cfg.output_range, seed=cfg.seed)
    iterator = iter(distribute(dataset, strategy))
    train_fn = make_train_fn(gan, strategy, global_batch_size=cfg.batch_size, jit_compile=jit)
    latents = fixed_latents(cfg)
    log = RunLog(run_dir)
    step = int(gan.step_counter.numpy())
    print(f"training {cfg.preset} on {data.source}: {len(data.images)} images, batch {cfg.batch_size} over "
          f"{plan.replicas} replica(s), {plan.total_steps} steps ({plan.steps_per_epoch}/epoch), "
          f"xla={'on' if jit else 'off'}, into {run_dir}")
    bar = tqdm(total=plan.total_steps, initial=step, unit="step", dynamic_ncols=True,
               mininterval=0.5 if sys.stderr.isatty() else 30)
    window_start, window_steps, last_log, losses, rate = time.perf_counter(), 0, step, {}, 0.0
    try:
        while step < plan.total_steps:
            # Run up to the next event (epoch end, checkpoint, end) in one call, at most steps_per_loop steps.
            n = min(opts.steps_per_loop, plan.total_steps - step,
                    plan.steps_per_epoch - step % plan.steps_per_epoch,
                    cfg.checkpoint_every - step % cfg.checkpoint_every)
            try:
                out = train_fn(iterator, tf.constant(n, tf.int32))
            except tf.errors.InvalidArgumentError as e:
                if not (jit and "Trying to access resource" in str(e)):
                    raise
                print("note: XLA could not compile the step on these devices; running without XLA", file=sys.stderr)
                jit = False
                train_fn = make_train_fn(gan, strategy, global_batch_size=cfg.batch_size, jit_compile=False)
                continue
            losses = {k: float(v) for k, v in out.items()}
            if not all(np.isfinite(list(losses.values()))):
                raise UserError(f"losses became non-finite at step {step + n} ({losses}); the last checkpoint in "
                                f"{manager.directory} is intact: lower the learning rates and --resume")
            step += n
            window_steps += n
            elapsed = time.perf_counter() - window_start
            if elapsed > 2.0:
                rate, window_start, window_steps = window_steps * cfg.batch_size / elapsed, time.perf_counter(), 0
            bar.update(n)
            bar.set_postfix({**{k: f"{v:.3f}" for k, v in losses.items()}, "img/s": f"{rate:.0f}"}, refresh=False)
            epoch_end = step % plan.steps_per_epoch == 0
            if step - last_log >= cfg.log_every or epoch_end or step == plan.total_steps:
                log.write(step, {"epoch": step / plan.steps_per_epoch, **losses, "images_per_s": rate})
                last_log = step
            if epoch_end:
                save_samples(gan, latents, run_dir / "samples" / f"epoch_{step // plan.steps_per_epoch:03d}.png")
            if epoch_end or step % cfg.checkpoint_every == 0 or step == plan.total_steps:
                manager.save(checkpoint_number=step)
    finally:
        bar.close()
        log.close()
    if step % plan.steps_per_epoch:
        save_samples(gan, latents, run_dir / "samples" / f"step_{step:06d}.png")
    gan.sampler.save(run_dir / "generator.keras")
    summary = {"run_dir": str(run_dir), "step": step, **losses}
    print(f"done: step {step}, " + ", ".join(f"{k} {v:.3f}" for k, v in losses.items())
          + f"; samples in {run_dir / 'samples'}, generator in {run_dir / 'generator.keras'}")
    return summary
