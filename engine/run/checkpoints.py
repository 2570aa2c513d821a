"""Checkpoints of a run: what one holds, saving one (never a non-finite one, never a half-written one as the
latest) and restoring the newest that reads back whole."""

import errno
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

from engine.errors import UserError, first_line
from engine.run import directory as rundir
from engine.step.gan import GAN


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
    if gan.augment_policy:  # ADA's probability: a resumed run goes on augmenting as much as it had come to
        parts["augment_p"] = gan.augment_p
    if gan.cfg.lecam_weight:  # LeCam's moving averages: a resumed run regularises as an uninterrupted one would
        parts["lecam"] = tf.train.Checkpoint(real=gan.lecam_real, fake=gan.lecam_fake)
    return tf.train.Checkpoint(**parts)


def open_manager(checkpoint: tf.train.Checkpoint, directory: Path, max_to_keep: int) -> tf.train.CheckpointManager:
    """The run's checkpoint manager, refusing a damaged list of checkpoints (`checkpoints/checkpoint`) rather than
    reading it as "no checkpoint" and training the run again from step 0 over its own checkpoints.

    Raises:
      UserError: the list is not a file, cannot be read, or names none of the checkpoints beside it.
    """
    state = Path(directory) / rundir.CHECKPOINT_STATE
    fix = (
        "it lists the run's checkpoints: restore it, or start a new run in another --out-dir (deleting it would "
        "train this run again from step 0)"
    )
    if os.path.lexists(state) and not state.is_file():
        raise UserError(f"{rundir.printable_path(state)} is not a file; {fix}")
    try:
        manager = tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=max_to_keep)
    except (ValueError, tf.errors.OpError) as e:  # ValueError: not UTF-8
        raise UserError(
            f"{rundir.printable_path(state)} is unreadable ({type(e).__name__}: {first_line(e)}); {fix}"
        ) from None
    if state.is_file() and not manager.checkpoints and list(Path(directory).glob("ckpt-*.index")):
        raise UserError(
            f"{rundir.printable_path(state)} is damaged (it names none of the checkpoints beside it); {fix}"
        )
    return manager


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
    except (tf.errors.ResourceExhaustedError, tf.errors.PermissionDeniedError, tf.errors.FailedPreconditionError,
            OSError) as e:  # fmt: skip
        reason = write_failure(e)
        if reason is None:
            raise
        _remove_partial(Path(manager.directory), step)
        raise UserError(
            f"{reason} while saving ckpt-{step} under {rundir.printable_path(manager.directory)}: the partial files "
            f"were removed and {latest_and_next(Path(manager.directory).parent, manager.latest_checkpoint)}"
        ) from None
    rundir.checkpoint_saved(manager.directory)


def write_failure(e: Exception) -> str | None:
    """What stopped a write when it is the place, not the program ("disk full", "read-only file system",
    "permission denied"), else None."""
    text = str(e)
    if getattr(e, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in text:
        return "disk full"
    if isinstance(e, tf.errors.ResourceExhaustedError) and not ("OOM" in text or "memory" in text.lower()):
        return "disk full"
    if getattr(e, "errno", None) == errno.EROFS or "Read-only file system" in text:
        return "read-only file system"
    if getattr(e, "errno", None) == errno.EACCES or isinstance(e, tf.errors.PermissionDeniedError):
        return "permission denied"
    return None


def disk_full(e: Exception) -> bool:
    """Whether `e` says the disk (or the quota) is full."""
    return write_failure(e) == "disk full"


def latest_and_next(run_dir: Path, latest: str | None) -> str:
    """The end of a message about a run that stopped on a failed write: its latest checkpoint and what to run."""
    if latest:
        return (
            f"the latest checkpoint is still {checkpoint_name(latest)}; free space (or make the place writable) and "
            f"resume with {resume_command(run_dir)}"
        )
    return (
        "the run has no checkpoint yet; free space (or make the place writable) and run the command again "
        "(a new run without a checkpoint is removed; a resumed one starts again from step 0)"
    )


def resume_command(run_dir: Path) -> str:
    """The command that resumes `run_dir`, in backquotes: the run records its data (engine.run.data_record), so no
    --data-dir is needed; its path made absolute, so it works from any directory."""
    return f"`python -m engine.train --resume --out-dir {rundir.shell_path(Path(run_dir).absolute())}`"


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
