"""The run directory: what a training run writes, and how exporters and `--resume` read it back.

Layout of a run directory:
  config.json        {"config": Config, "options": RunOptions, "engine_version"}
  checkpoints/       tf.train.CheckpointManager (G, D, both optimizers, step); the last few are kept
  samples/           epoch_NNN.png, one grid per epoch from one fixed latent batch
  metrics.jsonl      one JSON record per log interval
  tensorboard/       TensorBoard summaries
  generator.keras    the final generator
Runs without `--out-dir` go to runs/<timestamp>-<preset>/, and runs/latest points at the newest.
"""

import contextlib
import dataclasses
import datetime
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import engine
from engine.config import Config, RunOptions, from_dict, to_dict
from engine.errors import UserError, first_line

RUNS_ROOT = Path("runs")
CONFIG_FILE = "config.json"
CHECKPOINTS = "checkpoints"
TRAINED_CONFIG = "trained_config.json"  # under checkpoints/
_LOCKS: dict[str, int] = {}  # resolved run directory -> the open descriptor holding its lock


class RunDir:
    """This process's run directory (see `prepare`): `path` is the run (None for a new run until `open`)."""

    def __init__(self, out_dir: str | None, preset: str, *, resume: bool, chief: bool, runs_root: Path):
        self.out_dir, self.preset, self.resume, self.chief, self.runs_root = out_dir, preset, resume, chief, runs_root
        self.path = new_run_dir(out_dir, preset, resume=True, runs_root=runs_root) if resume else None
        self._scratch = None
        if resume and chief:
            take_lock(self.path)  # before anything is written: a second process on this run is refused
        if not resume:
            check_out_dir(out_dir)

    def stored_config(self) -> Config:
        """The config of the run being resumed, checked against the one its checkpoints were trained with."""
        cfg, _ = read_config(self.path)
        check_config_unchanged(self.path, cfg)
        return cfg

    def open(self) -> Path:
        """The directory to train into, created now: the new run (locked, runs/latest moved to it), the resumed run,
        or for a non-chief worker a throwaway directory (a copy of the resumed run), removed by `close`."""
        if not self.chief:
            # A non-chief worker runs every step and checkpoint save with the chief (collectives) but keeps nothing.
            self._scratch = worker_run_dir(self.path)
            return self._scratch.__enter__()
        if self.path is None:
            self.path = new_run_dir(self.out_dir, self.preset, resume=False, runs_root=self.runs_root)
        return self.path

    def close(self) -> None:
        if self._scratch is not None:
            self._scratch.__exit__(None, None, None)
            self._scratch = None
        release_locks()

    def __enter__(self) -> "RunDir":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def prepare(
    out_dir: str | None, preset: str, *, resume: bool, chief: bool = True, runs_root: Path = RUNS_ROOT
) -> RunDir:
    """The one owner of a run's directory, for `engine.train`: use as `with prepare(...) as run:`.

    Checks now what can be checked without writing (a new run's --out-dir is free; a resumed one holds a run, which
    the chief locks), and creates nothing until `run.open()`, called once the data and models are ready, so a bad
    input leaves no empty run behind and runs/latest where it was. Leaving the block removes a non-chief worker's
    throwaway directory and releases the lock.

    Raises:
      UserError: as `new_run_dir` and `take_lock`.
    """
    return RunDir(out_dir, preset, resume=resume, chief=chief, runs_root=runs_root)


def new_run_dir(
    out_dir: str | None, preset: str, *, resume: bool, runs_root: Path = RUNS_ROOT, lock: bool = True
) -> Path:
    """Chooses and creates the run directory, refusing to overwrite an existing run, and locks it.

    Args:
      out_dir: `--out-dir`, used as the run directory itself; None: a new runs/<timestamp>-<preset>/, or with
        `resume` the run runs/latest points at.
      resume: continue the run in the directory instead of starting one.
      lock: take a new run's lock (`take_lock`) for this process; False for a non-chief worker, which writes
        nothing. A resumed run is not locked here: the caller locks it once the resume is validated.
    Raises:
      UserError: resuming a directory with no run in it, starting a run in a non-empty directory, or the run is
        locked by another process.
    """
    if resume:
        run_dir = resolve(out_dir, runs_root=runs_root)
        if not (run_dir / CONFIG_FILE).exists():
            raise UserError(f"--resume: {run_dir} holds no run ({CONFIG_FILE} missing); drop --resume to start one")
        return run_dir  # locked by the caller once the resume is validated (a refused one leaves no lock file)
    if out_dir is not None:
        run_dir = Path(out_dir)
        check_out_dir(out_dir)
    else:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = runs_root / f"{stamp}-{preset}"
        n = 1
        while run_dir.exists():
            n += 1
            run_dir = runs_root / f"{stamp}-{preset}-{n}"
    run_dir.mkdir(parents=True, exist_ok=True)
    if lock:
        take_lock(run_dir)
        check_out_dir(str(run_dir))  # again, under the lock: another process may have started a run here meanwhile
    if out_dir is None:
        _point_latest(runs_root, run_dir)
    return run_dir


def take_lock(run_dir: Path) -> None:
    """Takes an exclusive lock on the run directory (`flock` on the directory itself: no file is created) until
    `release_locks` or the process ends (the kernel drops it even after kill -9).

    Raises:
      UserError: another process holds it (naming its pid): two processes must never train one run.
    """
    key = str(Path(run_dir).resolve())
    if key in _LOCKS:
        return
    fd = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _lock_holder(os.fstat(fd).st_ino) or "unknown"
        os.close(fd)
        raise UserError(
            f"{run_dir} is being trained by another process (pid {holder}); wait for it to finish, or "
            f"stop it (kill {holder}: it saves a checkpoint) and then --resume"
        ) from None
    _LOCKS[key] = fd


def _lock_holder(inode: int) -> str | None:
    """The pid holding a flock on `inode`, from Linux's /proc/locks ("1: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE")."""
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5].rsplit(":", 1)[-1] == str(inode):
            return parts[4]
    return None


def release_locks() -> None:
    """Releases every run lock this process holds."""
    while _LOCKS:
        os.close(_LOCKS.popitem()[1])  # closing the descriptor drops the flock


def check_out_dir(out_dir: str | None) -> None:
    """Raises UserError if `out_dir` is a non-empty directory: a new run never writes into an existing one."""
    if out_dir is not None and Path(out_dir).is_dir() and any(Path(out_dir).iterdir()):
        raise UserError(
            f"--out-dir {out_dir} is not empty; pass --resume to continue that run, or choose "
            "another directory (nothing was changed)"
        )
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise UserError(f"--out-dir {out_dir} is a file; choose a directory (nothing was changed)")


@contextlib.contextmanager
def worker_run_dir(resume_from: Path | None = None):
    """A throwaway run directory for a non-chief multi-worker task, removed on exit (TF's multi-worker pattern).

    Every worker must run the same steps and call checkpoint save (both use collectives), but only the chief keeps
    what it writes; the others write here. To resume, the chief's run (config and checkpoints) is copied in first,
    so this worker restores the same weights and step without writing to the chief's directory.
    """
    tmp = Path(tempfile.mkdtemp(prefix="gan-worker-run-"))
    try:
        if resume_from is not None:
            skip = shutil.ignore_patterns("samples", "tensorboard", "export")
            shutil.copytree(resume_from, tmp, dirs_exist_ok=True, ignore=skip)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _point_latest(runs_root: Path, run_dir: Path) -> None:
    link = runs_root / "latest"
    tmp = runs_root / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, link)  # atomic: runs/latest always points at a complete name


def resolve(run_dir: str | os.PathLike | None, *, runs_root: Path = RUNS_ROOT) -> Path:
    """`run_dir`, or runs/latest when None; raises UserError if it does not exist."""
    path = Path(run_dir) if run_dir is not None else runs_root / "latest"
    if not path.exists():
        hint = "train one first with `python -m engine.train`" if run_dir is None else "check the path"
        raise UserError(f"run directory {path} does not exist; {hint}")
    return path.resolve()


def write_config(run_dir: Path, cfg: Config, opts: RunOptions, class_names=()) -> None:
    data = {
        "config": to_dict(cfg),
        "options": to_dict(opts),
        "class_names": list(class_names),
        "engine_version": engine.__version__,
    }
    _write_json(run_dir / CONFIG_FILE, data)
    # The config the checkpoints are trained with, kept beside them: an edited config.json cannot silently change
    # a resumed run (check_config_unchanged).
    (run_dir / CHECKPOINTS).mkdir(exist_ok=True)
    trained = json.dumps(to_dict(cfg), sort_keys=True)
    _write_json(
        run_dir / CHECKPOINTS / TRAINED_CONFIG,
        {"config": to_dict(cfg), "sha256": hashlib.sha256(trained.encode()).hexdigest()},
    )


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def check_config_unchanged(run_dir: Path, cfg: Config) -> None:
    """Refuses to resume when `cfg` (from config.json) differs from the config the checkpoints were trained with,
    except in its length (epochs, steps). Runs from before the record was kept are not checked.

    Raises:
      UserError: naming each changed key.
    """
    path = Path(run_dir) / CHECKPOINTS / TRAINED_CONFIG
    if not path.exists():
        return
    try:
        trained = from_dict(Config, json.loads(path.read_text())["config"])
    except (json.JSONDecodeError, KeyError, TypeError, UserError) as e:
        raise UserError(
            f"{path} is unreadable ({e}); it records the config the checkpoints were trained with, "
            "so the run cannot be resumed safely; start a new run"
        ) from None
    changed = [
        f.name
        for f in dataclasses.fields(Config)
        if f.name not in ("epochs", "steps") and getattr(trained, f.name) != getattr(cfg, f.name)
    ]
    if changed:
        diffs = ", ".join(
            f"{k}: trained with {getattr(trained, k)!r}, config.json has {getattr(cfg, k)!r}" for k in changed
        )
        raise UserError(
            f"--resume {run_dir}: its config.json was changed since the checkpoints were trained "
            f"({diffs}); restore config.json, or start a new run with the new settings"
        )


def read_config(run_dir: Path) -> tuple[Config, RunOptions]:
    cfg, opts, _ = read_run(run_dir)
    return cfg, opts


def read_run(run_dir: Path) -> tuple[Config, RunOptions, tuple[str, ...]]:
    """(config, options, dataset class names) of a run directory."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise UserError(f"{run_dir} is not a run directory ({CONFIG_FILE} missing)")
    if not path.is_file():
        raise UserError(f"{path} is not a file; it was not written by this engine")
    try:
        data = json.loads(path.read_text())
        return (
            from_dict(Config, data["config"]),
            from_dict(RunOptions, data["options"]),
            tuple(data.get("class_names", ())),
        )
    except UserError as e:
        raise UserError(f"{path} is unusable: {e}") from None
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as e:  # ValueError: bad JSON, not UTF-8
        reason = first_line(e)
        raise UserError(
            f"{path} is unreadable ({type(e).__name__}: {reason}); it was not written by this engine or is damaged"
        ) from None


def latest_checkpoint(run_dir: Path) -> str:
    """Prefix of the newest complete checkpoint; raises UserError if the run has none."""
    import tensorflow as tf

    prefix = tf.train.latest_checkpoint(str(Path(run_dir) / CHECKPOINTS))
    if prefix is None:
        raise UserError(f"run {run_dir} has no checkpoint yet; train it (or let it reach its first checkpoint) first")
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
        "engine_version": engine.__version__,
    }


BEST = "best"  # checkpoints/best/: the best checkpoint by FID (engine.quality.training), with best.json
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


def load_generator(run_dir: str | os.PathLike | None, which: str = "auto"):
    """Rebuilds a run's generator from its config and restores a checkpoint's weights (the EMA weights
    when the run kept an EMA of G).

    Args:
      which: "auto": the best checkpoint by FID when the run kept one, else the newest; "best"; "latest".
    Returns:
      (generator keras.Model, metadata dict as in export.metadata, checkpoint prefix); `checkpoint_label(prefix)`
      says which was taken.
    Raises:
      UserError: no run, no checkpoint (or no best one when asked), or a checkpoint that cannot be read or does
        not fit the config.
    """
    import tensorflow as tf

    from engine import models
    from engine.precision import policy_scope

    if which not in ("auto", "best", "latest"):
        raise ValueError(f"which={which!r}: valid are auto, best, latest")
    run_dir = resolve(run_dir)
    cfg, _, class_names = read_run(run_dir)
    prefix = best_checkpoint(run_dir) if which != "latest" else None
    if prefix is None and which == "best":
        raise UserError(
            f"run {run_dir} kept no best checkpoint (it was trained without --eval-every); "
            "use the latest checkpoint instead"
        )
    prefix = prefix or latest_checkpoint(run_dir)
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
            f"checkpoint {prefix} cannot be restored into preset {cfg.preset}'s generator ({first}); "
            f"it is damaged or from another config: `python -m engine.train --resume --out-dir {run_dir}` "
            "goes back to the newest readable checkpoint and writes new ones"
        ) from None
    meta = generator_metadata(
        cfg, step=int(step.numpy()), checkpoint_sha=checkpoint_sha256(prefix), class_names=class_names
    )
    return generator, meta, prefix
