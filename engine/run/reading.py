"""Reading a run back: which run (`resolve`), its config, its checkpoints (newest, best, by name) and its generator
with the metadata an export carries. What exporters, evaluate and resume read; engine.run.directory writes."""

import hashlib
import json
import os
import re
from pathlib import Path

from engine.config import Config, RunOptions, from_dict
from engine.errors import UserError, first_line, printable_path, shell_path
from engine.run.layout import BEST, CHECKPOINTS, CONFIG_FILE, LATEST, RUNS_ROOT
from engine.version import __version__

RUNS = Path(RUNS_ROOT)


def resolve(run_dir: str | os.PathLike | None, *, runs_root: Path = RUNS) -> Path:
    """`run_dir`, or runs/latest when None; raises UserError if it does not exist."""
    path = Path(run_dir) if run_dir is not None else runs_root / LATEST
    if not path.exists():
        hint = "train one first with `python -m engine.train`" if run_dir is None else "check the path"
        raise UserError(f"run directory {printable_path(path)} does not exist; {hint}")
    return path.resolve()


def read_config(run_dir: Path) -> tuple[Config, RunOptions]:
    cfg, opts, _ = read_run(run_dir)
    return cfg, opts


def read_run(run_dir: Path) -> tuple[Config, RunOptions, tuple[str, ...]]:
    """(config, options, dataset class names) of a run directory."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise UserError(f"{printable_path(run_dir)} is not a run directory ({CONFIG_FILE} missing)")
    if not path.is_file():
        raise UserError(f"{printable_path(path)} is not a file; it was not written by this engine")
    try:
        data = json.loads(path.read_text())
        return (
            from_dict(Config, data["config"]),
            from_dict(RunOptions, data["options"]),
            tuple(data.get("class_names", ())),
        )
    except UserError as e:
        raise UserError(f"{printable_path(path)} is unusable: {e}") from None
    except (ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as e:  # ValueError: not JSON
        reason = first_line(e)
        raise UserError(
            f"{printable_path(path)} is unreadable ({type(e).__name__}: {reason}); it was not written by this engine "
            "or is damaged"
        ) from None


def latest_checkpoint(run_dir: Path) -> str:
    """Prefix of the newest complete checkpoint; raises UserError if the run has none."""
    import tensorflow as tf

    prefix = tf.train.latest_checkpoint(str(Path(run_dir) / CHECKPOINTS))
    if prefix is None:
        raise UserError(
            f"run {printable_path(run_dir)} has no checkpoint yet; train it (or let it reach its first checkpoint) "
            "first"
        )
    return prefix


def checkpoint_sha256(prefix: str) -> str:
    """sha256 over a checkpoint's index and data files, in name order: identifies the exported weights."""
    digest = hashlib.sha256()
    for path in sorted(Path(prefix).parent.glob(Path(prefix).name + ".*")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def generator_metadata(cfg: Config, *, step: int, checkpoint_sha: str, class_names=()) -> dict:
    """The export.metadata dict describing a generator trained with `cfg`."""
    return {
        "latent_dim": cfg.latent_dim,
        "latent_distribution": cfg.latent_distribution,
        "latent_range": [0.0, 1.0] if cfg.latent_distribution == "uniform" else None,
        "num_classes": cfg.num_classes,
        "class_names": list(class_names)[: cfg.num_classes],
        "output_range": list(cfg.output_range),
        "layout": "NHWC",
        "image_shape": list(cfg.image_shape),
        "preset": cfg.preset,
        "step": int(step),
        "checkpoint_sha256": checkpoint_sha,
        "engine_version": __version__,
    }


BEST_INFO = "best.json"


def best_checkpoint(run_dir: Path) -> str | None:
    """Prefix of the run's best checkpoint by FID, or None when it kept none (no evaluation during training)."""
    import tensorflow as tf

    return tf.train.latest_checkpoint(str(Path(run_dir) / CHECKPOINTS / BEST))


def checkpoint_label(prefix: str) -> str:
    """How a checkpoint was chosen, for messages: "best by FID at step S (FID x)" or "latest (step S)"."""
    info_path = Path(prefix).parent / BEST_INFO
    if Path(prefix).parent.name == BEST and info_path.exists():
        info = json.loads(info_path.read_text())
        return f"best by FID at step {info['step']} (FID {info['fid']:.2f} at {info['num_samples']} samples)"
    return f"latest (step {Path(prefix).name.rsplit('-', 1)[-1]})"


def choose_checkpoint(run_dir: Path, which: str = "auto") -> str:
    """The prefix of the checkpoint `which` names in a run (see `load_generator`).

    Raises:
      UserError: an unknown `which`, or the run has no such checkpoint.
    """
    named = re.fullmatch(r"ckpt-\d+", which) is not None
    if which not in ("auto", "best", "latest") and not named:
        raise UserError(f"--checkpoint {which!r}: valid are auto, best, latest, or a checkpoint's name (ckpt-N)")
    if named and not (run_dir / CHECKPOINTS / f"{which}.index").is_file():
        raise UserError(
            f"run {printable_path(run_dir)} has no checkpoint {which}; its checkpoints/ folder lists those it kept"
        )
    prefix = str(run_dir / CHECKPOINTS / which) if named else None
    prefix = prefix or (best_checkpoint(run_dir) if which != "latest" else None)
    if prefix is None and which == "best":
        raise UserError(
            f"run {printable_path(run_dir)} kept no best checkpoint (it was trained without --eval-every); "
            "use the latest checkpoint instead"
        )
    return prefix or latest_checkpoint(run_dir)


def load_generator(run_dir: str | os.PathLike | None, which: str = "auto"):
    """Rebuilds a run's generator from its config and restores a checkpoint's weights (the EMA weights
    when the run kept an EMA of G).

    Args:
      which: "auto": the best checkpoint by FID when the run kept one, else the newest; "best"; "latest"; or a
        kept checkpoint's name, "ckpt-N".
    Returns:
      (generator keras.Model, metadata dict as in export.metadata, checkpoint prefix); `checkpoint_label(prefix)`
      says which was taken.
    Raises:
      UserError: no run, no checkpoint (or no best one when asked), or a checkpoint that cannot be read or does
        not fit the config.
    """
    import tensorflow as tf

    from engine import models
    from engine.step.precision import policy_scope

    run_dir = resolve(run_dir)
    cfg, _, class_names = read_run(run_dir)
    prefix = choose_checkpoint(run_dir, which)
    # Exports are float32 whatever the run's precision: its float32 variables restore into a float32 generator.
    with policy_scope("float32"):
        generator = models.build_generator(cfg)
    step = tf.Variable(0, dtype=tf.int64)
    try:
        # With EMA on, the EMA weights are the generator that gets sampled and exported.
        key = "generator_ema" if cfg.ema_decay else "generator"
        status = tf.train.Checkpoint(**{key: generator, "step": step}).restore(prefix)
        status.expect_partial().assert_existing_objects_matched()
    except (tf.errors.OpError, AssertionError, ValueError, IndexError) as e:
        first = first_line(e, 200)
        raise UserError(
            f"checkpoint {printable_path(prefix)} cannot be restored into preset {cfg.preset}'s generator ({first}); "
            f"it is damaged or from another config: `python -m engine.train --resume --out-dir {shell_path(run_dir)}` "
            "goes back to the newest readable checkpoint and writes new ones"
        ) from None
    meta = generator_metadata(
        cfg, step=int(step.numpy()), checkpoint_sha=checkpoint_sha256(prefix), class_names=class_names
    )
    return generator, meta, prefix
