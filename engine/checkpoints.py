"""Checkpoints of a run: what one holds, saving one (never a non-finite one, never a half-written one as the
latest) and restoring the newest that reads back whole."""

import errno
import shutil
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

from engine.errors import UserError, first_line
from engine.gan import GAN


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
            reason = first_line(e)
            print(f"note: checkpoint {prefix} cannot be restored ({reason})", file=sys.stderr)
    names = ", ".join(Path(p).name for p in prefixes)
    raise UserError(
        f"--resume: none of the checkpoints in {manager.directory} ({names}) "
        "can be restored into this run's models: they are damaged or from another config; start a new "
        "run in another --out-dir"
    ) from None


def all_finite(gan: GAN) -> bool:
    """Whether every float value a checkpoint holds (weights, EMA, optimizer state) is finite."""
    nets = [gan.generator, gan.discriminator] + ([gan.generator_ema] if gan.generator_ema else [])
    values = [v for n in nets for v in n.weights] + gan.g_optimizer.variables + gan.d_optimizer.variables
    return all(np.isfinite(v.numpy()).all() for v in values if "float" in str(v.dtype))


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
        if not disk_full(e):
            raise
        _remove_partial(Path(manager.directory), step)
        run = Path(manager.directory).parent
        raise UserError(
            f"disk full while saving ckpt-{step} under {manager.directory}: the partial files were "
            f"removed and the latest checkpoint is still {checkpoint_name(manager.latest_checkpoint)}; free space "
            f"and resume with `python -m engine.train --resume --out-dir {run}`"
        ) from None


def disk_full(e: Exception) -> bool:
    """Whether `e` says the disk (or the quota) is full."""
    return (
        getattr(e, "errno", None) == errno.ENOSPC
        or isinstance(e, tf.errors.ResourceExhaustedError)
        or ("No space left on device" in str(e))
    )


def checkpoint_name(prefix: str | None) -> str:
    """The checkpoint's file name for messages, or what to say when there is none yet."""
    return Path(prefix).name if prefix else "none (no checkpoint yet)"


def _remove_partial(directory: Path, step: int) -> None:
    """Removes what a failed save of ckpt-`step` left (its temp folder, its files): the checkpoint state file never
    named it, so the previous checkpoint stays the latest."""
    for path in directory.glob(f"ckpt-{step}[._]*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
