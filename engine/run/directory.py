"""The run directory: making one (locked, runs/latest moved at its first checkpoint), checking where it may go, and
writing its config whole. Its names are engine.run.layout's; reading a run back (its config, checkpoints, generator)
is engine.run.reading."""

import contextlib
import datetime
import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from engine.config import Config, RunOptions, changed_except_length, from_dict, to_dict
from engine.errors import UserError, first_line, printable_path, say, shell_path
from engine.run.layout import (  # noqa: F401  (the names, re-exported for rundir's callers)
    BEST,
    CHECKPOINT_STATE,
    CHECKPOINTS,
    CONFIG_FILE,
    DATA_FILES,
    EXPORT,
    GENERATOR_FILE,
    LATEST,
    METRICS,
    SAMPLES,
    TENSORBOARD,
    TRAINED_CONFIG,
)
from engine.run.layout import RUNS_ROOT as _RUNS_ROOT
from engine.run.reading import read_config, resolve
from engine.version import __version__
from safeio import alive

RUNS_ROOT = Path(_RUNS_ROOT)
_LOCKS: dict[str, int] = {}  # resolved run directory -> the open descriptor holding its lock
_LATEST_PENDING: dict[str, Path] = {}  # resolved checkpoints/ of a new run -> its runs root, until its first save

# What this program leaves behind when it is killed while writing (TensorFlow's checkpoint temporaries included):
# removed when the run is resumed. Patterns relative to the run directory.
LEFTOVERS = (
    f"{CHECKPOINTS}/ckpt-*_temp",  # a checkpoint's shards before they are merged (TensorFlow's naming)
    f"{CHECKPOINTS}/ckpt-*.tempstate*",  # a checkpoint's index / data file being written (TensorFlow's naming)
    f"{CHECKPOINTS}/{CHECKPOINT_STATE}.tmp*",  # the manager's list, written then renamed (TensorFlow's naming)
    f"{CHECKPOINTS}/{TRAINED_CONFIG}.tmp",
    f"{CHECKPOINTS}/best/ckpt-*_temp",
    f"{CHECKPOINTS}/best/ckpt-*.tempstate*",
    f"{CHECKPOINTS}/best/{CHECKPOINT_STATE}.tmp*",
    f"{CHECKPOINTS}/best/best.tmp",
    f"{CONFIG_FILE}.tmp",
    f"{DATA_FILES}.tmp",
    "metrics.tmp",  # runlog.trim_log's
    f"{TENSORBOARD}/events.out.tfevents.*.tmp",  # runlog.trim_tensorboard's
    f"{SAMPLES}/progress.tmp.gif",
    ".*.partial.*",  # atomic_file's: .generator.partial.keras
    f"{SAMPLES}/.*.partial.*",
)


class RunDir:
    """This process's run directory (see `prepare`): `path` is the run (None for a new run until `open`)."""

    def __init__(self, out_dir: str | None, preset: str, *, resume: bool, chief: bool, runs_root: Path):
        self.out_dir, self.preset, self.resume, self.chief, self.runs_root = out_dir, preset, resume, chief, runs_root
        self._scratch = None
        self._made: list[Path] = []  # directories this process created for a new run, the run itself first
        self._emptied: Path | None = None  # an existing empty --out-dir the new run was written into
        if out_dir is not None:
            check_utf8(out_dir)
        if resume:
            self.path = new_run_dir(out_dir, preset, resume=True, runs_root=runs_root)
            if chief:
                take_lock(self.path)  # before anything is written: a second process on this run is refused
                check_writable(self.path, "--resume")
        else:
            self.path = None
            check_out_dir(out_dir)
            if chief:
                check_new_run_place(out_dir, runs_root)

    def stored_config(self) -> Config:
        """The config of the run being resumed, checked against the one its checkpoints were trained with."""
        cfg, _ = read_config(self.path)
        check_config_unchanged(self.path, cfg)
        return cfg

    def open(self) -> Path:
        """The directory to train into, created now: the new run (locked; runs/latest is moved to it at its first
        checkpoint), the resumed run (cleared of what an interrupted write left), or for a non-chief worker a
        throwaway directory (a copy of the resumed run), removed by `close`."""
        if not self.chief:
            # A non-chief worker runs every step and checkpoint save with the chief (collectives) but keeps nothing.
            self._scratch = worker_run_dir(self.path)
            return self._scratch.__enter__()
        if self.path is None:
            self.path, self._made, self._emptied = _create_run_dir(self.out_dir, self.preset, self.runs_root)
            if self.out_dir is None:
                _LATEST_PENDING[str((self.path / CHECKPOINTS).resolve())] = self.runs_root
        else:
            removed = remove_leftovers(self.path)
            if removed:
                say(
                    f"note: removed what an interrupted write left in {printable_path(self.path)}: {', '.join(removed)}"
                )
        return self.path

    def close(self, failed: bool = False) -> None:
        """Releases the lock and removes a non-chief worker's copy; with `failed`, a new run that has no checkpoint
        is removed too (it holds nothing worth keeping: the same command starts it again)."""
        try:
            if failed and self.chief and not self.resume and self.path is not None and not has_checkpoint(self.path):
                self._remove_new_run()
        finally:
            if self.path is not None:
                _LATEST_PENDING.pop(str((self.path / CHECKPOINTS).resolve()), None)
            if self._scratch is not None:
                self._scratch.__exit__(None, None, None)
                self._scratch = None
            release_locks()

    def _remove_new_run(self) -> None:
        if self._emptied is not None:  # it was empty when this run took it (checked under the lock)
            for child in self._emptied.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        elif self._made:
            shutil.rmtree(self._made[0], ignore_errors=True)
            for parent in self._made[1:]:  # parents this run created, if nothing else was put in them since
                with contextlib.suppress(OSError):
                    parent.rmdir()

    def __enter__(self) -> "RunDir":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(failed=exc_type is not None)


def prepare(
    out_dir: str | None, preset: str, *, resume: bool, chief: bool = True, runs_root: Path = RUNS_ROOT
) -> RunDir:
    """The one owner of a run's directory, for `engine.train`: use as `with prepare(...) as run:`.

    Checks now what can be checked without writing (a new run's --out-dir is free and writable, runs/ and
    runs/latest are what this program keeps there; a resumed one holds a run, which the chief locks), and creates
    nothing until `run.open()`, called once the data and models are ready, so a bad input leaves no empty run behind.
    runs/latest moves to a new run only at its first checkpoint (`checkpoint_saved`). Leaving the block on an
    exception removes a new run that has no checkpoint yet; leaving it in any case removes a non-chief worker's
    throwaway directory and releases the lock.

    Raises:
      UserError: as `new_run_dir`, `take_lock`, `check_utf8`, `check_writable` and `check_new_run_place`.
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
            raise UserError(
                f"--resume: {printable_path(run_dir)} holds no run ({CONFIG_FILE} missing); drop --resume to start one"
            )
        return run_dir  # locked by the caller once the resume is validated (a refused one leaves no lock file)
    run_dir, _, _ = _create_run_dir(out_dir, preset, runs_root, lock=lock)
    if out_dir is None:
        _point_latest(runs_root, run_dir)
    return run_dir


def _create_run_dir(
    out_dir: str | None, preset: str, runs_root: Path, *, lock: bool = True
) -> tuple[Path, list[Path], Path | None]:
    """Creates (and locks) a new run's directory: (it, the directories created for it, the run first, or the
    existing empty --out-dir it took). Nothing is left behind when it fails."""
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
    existed = run_dir.is_dir()
    made = _make_dirs(run_dir, "--out-dir" if out_dir is not None else "the run directory")
    try:
        if lock:
            take_lock(run_dir)
            check_out_dir(str(run_dir))  # again, under the lock: another process may have started a run here
    except BaseException:
        release_locks()
        for path in made:
            with contextlib.suppress(OSError):
                path.rmdir()
        raise
    return run_dir, made, (run_dir if existed else None)


def _make_dirs(path: Path, what: str) -> list[Path]:
    """mkdir -p `path`: the directories it created, deepest first; on failure removes them and raises UserError."""
    missing = []
    p = path
    while not p.exists() and not p.is_symlink() and p != p.parent:
        missing.append(p)
        p = p.parent
    made = []
    try:
        for d in reversed(missing):
            d.mkdir()
            made.insert(0, d)
    except OSError as e:
        for d in made:
            with contextlib.suppress(OSError):
                d.rmdir()
        reason = "disk full" if e.errno in (errno.ENOSPC, errno.EDQUOT) else (e.strerror or first_line(e))
        raise UserError(
            f"cannot create {what} {printable_path(path)} ({reason}); free space or choose a writable place "
            "(nothing was changed)"
        ) from None
    return made


def check_utf8(out_dir: str) -> None:
    """Refuses an --out-dir whose name is not UTF-8: TensorFlow's file functions take UTF-8 paths only."""
    try:
        os.fsencode(out_dir).decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        raise UserError(
            f"--out-dir {printable_path(out_dir)} is not a UTF-8 name, which TensorFlow cannot write to; choose a "
            "name in UTF-8 (nothing was changed)"
        ) from None


def _why_not_writable(path: Path) -> str:
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return os.strerror(errno.EROFS)
    except OSError:
        pass
    return os.strerror(errno.EACCES)


def check_writable(path: Path, flag: str) -> None:
    """Refuses a run directory (or the nearest existing directory above a new one) that cannot be written.

    Raises:
      UserError: naming it and why (a read-only file system, no permission, a file in the way).
    """
    existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(
            f"{flag} {printable_path(path)}: {printable_path(existing)} is a file, not a directory; choose another "
            "place (nothing was changed)"
        )
    for d in (existing, existing / CHECKPOINTS):
        if d.is_dir() and not os.access(d, os.W_OK | os.X_OK):
            raise UserError(
                f"{flag} {printable_path(path)}: cannot write into {printable_path(d)} ({_why_not_writable(d)}); "
                f"{'make it writable' if flag == '--resume' else 'choose a writable --out-dir'} (nothing was changed)"
            )


def check_new_run_place(out_dir: str | None, runs_root: Path) -> None:
    """Refuses, before anything is written, a new run that could not be created or linked: an unwritable place,
    `runs` a file, or `runs/latest` something other than the link this program keeps."""
    if out_dir is not None:
        check_writable(Path(out_dir), "--out-dir")
        return
    if runs_root.exists() and not runs_root.is_dir():
        raise UserError(
            f"{printable_path(runs_root)} is a file, where runs are kept; move it away, or pass --out-dir DIR "
            "(nothing was changed)"
        )
    latest = runs_root / LATEST
    if os.path.lexists(latest) and not latest.is_symlink():
        kind = "a directory" if latest.is_dir() else "a file"
        raise UserError(
            f"{printable_path(latest)} is {kind}, not the link to the newest run that this program keeps there; "
            f"move it away (e.g. `mv {shell_path(latest)} {shell_path(runs_root / 'my-run')}`), or pass "
            "--out-dir DIR (nothing was changed)"
        )
    check_writable(runs_root, "the runs directory")


def has_checkpoint(run_dir: Path) -> bool:
    """Whether the run has a checkpoint (the manager's list exists: it is written only after a complete save)."""
    return (Path(run_dir) / CHECKPOINTS / CHECKPOINT_STATE).exists()


def checkpoint_saved(checkpoint_dir: str | os.PathLike) -> None:
    """Called after each checkpoint save: at a new run's first, runs/latest is moved to it (a run without a
    checkpoint is not worth resuming, and one that fails before it is removed)."""
    runs_root = _LATEST_PENDING.pop(str(Path(checkpoint_dir).resolve()), None)
    if runs_root is not None:
        _point_latest(runs_root, Path(checkpoint_dir).parent)


def remove_leftovers(run_dir: Path) -> list[str]:
    """Removes what this program (and TensorFlow's checkpoint writer) leaves when killed mid-write (`LEFTOVERS`);
    returns their paths relative to the run. Call only with the run's lock held."""
    removed = []
    for pattern in LEFTOVERS:
        for path in sorted(Path(run_dir).glob(pattern)):
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except OSError:
                continue  # left for the next resume; nothing reads it
            removed.append(printable_path(path.relative_to(run_dir)))
    return removed


@contextlib.contextmanager
def atomic_file(path: Path):
    """Yields a temporary path beside `path` (`.NAME.partial.EXT`, a `LEFTOVERS` pattern) to write; renames it to
    `path` when the block succeeds and removes it when it fails, so `path` is never half-written."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


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
            f"{printable_path(run_dir)} is being trained by another process (pid {holder}); wait for it to finish, "
            f"or stop it (kill {holder}: it saves a checkpoint) and then --resume"
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
            f"--out-dir {printable_path(out_dir)} is not empty; pass --resume to continue that run, or choose "
            "another directory (nothing was changed)"
        )
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise UserError(f"--out-dir {printable_path(out_dir)} is a file; choose a directory (nothing was changed)")


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
            skip = shutil.ignore_patterns(SAMPLES, TENSORBOARD, EXPORT)
            shutil.copytree(resume_from, tmp, dirs_exist_ok=True, ignore=skip)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _point_latest(runs_root: Path, run_dir: Path) -> None:
    """Points runs/latest at `run_dir`, atomically (a temporary link renamed over it). A failure is said, not
    raised: the run itself is fine, only the shortcut to it is missing."""
    link = runs_root / LATEST
    tmp = runs_root / f".latest-{os.getpid()}"
    _remove_stale_latest_links(runs_root)
    try:
        if os.path.lexists(link) and not link.is_symlink():
            raise IsADirectoryError(errno.EISDIR, "not a link (something else was put there)")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(run_dir.name)
        os.replace(tmp, link)  # atomic: runs/latest always points at a complete name
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        say(
            f"note: {printable_path(link)} was not moved to this run ({e.strerror or first_line(e)}); name the run "
            f"with --out-dir {shell_path(run_dir)} (or --run-dir) to use it"
        )


def _remove_stale_latest_links(runs_root: Path) -> None:
    """Removes `.latest-PID` links left by processes killed while moving runs/latest (their pid is gone)."""
    for stale in runs_root.glob(".latest-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if stale.is_symlink() and pid.isdigit() and pid.isascii() and not alive(int(pid)):
            with contextlib.suppress(OSError):
                stale.unlink()


def write_config(run_dir: Path, cfg: Config, opts: RunOptions, class_names=(), data_record=None) -> None:
    """Writes config.json (with `data_record`, engine.run.data_record's, when given; its file list goes to
    data_files.json) and the trained config beside the checkpoints."""
    data = {
        "config": to_dict(cfg),
        "options": to_dict(opts),
        "class_names": list(class_names),
        "engine_version": __version__,
    }
    if data_record is not None:
        data["data"] = {k: v for k, v in data_record.items() if k != "files"}
        if data_record.get("files") is not None:
            _write_json(run_dir / DATA_FILES, {"files": data_record["files"]}, indent=None)
    _write_json(run_dir / CONFIG_FILE, data)
    # The config the checkpoints are trained with, kept beside them: an edited config.json cannot silently change
    # a resumed run (check_config_unchanged).
    (run_dir / CHECKPOINTS).mkdir(exist_ok=True)
    trained = json.dumps(to_dict(cfg), sort_keys=True)
    _write_json(
        run_dir / CHECKPOINTS / TRAINED_CONFIG,
        {"config": to_dict(cfg), "sha256": hashlib.sha256(trained.encode()).hexdigest()},
    )


def _write_json(path: Path, data: dict, indent: int | None = 2) -> None:
    """Writes `path` whole or not at all (a temporary file renamed over it).

    Raises:
      UserError: the disk is full, read-only or not ours (nothing half-written is left).
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=indent) + "\n")
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise cannot_write(path, e) from None


def cannot_write(path, e: OSError) -> UserError:
    """The one-line error for a write that failed because of the place (full, read-only, not permitted)."""
    reason = "disk full" if e.errno in (errno.ENOSPC, errno.EDQUOT) else (e.strerror or first_line(e))
    return UserError(
        f"cannot write {printable_path(path)} ({reason}); free space or make the place writable, then run the "
        "command again (nothing half-written was left)"
    )


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
    # ValueError: not JSON, not UTF-8; OSError: a directory, unreadable; the others: JSON of another shape.
    except (ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError, UserError) as e:
        raise UserError(
            f"{printable_path(path)} is unreadable ({type(e).__name__}: {first_line(e)}); it records the config "
            "the checkpoints were trained with, so the run cannot be resumed safely; restore it, or start a new run"
        ) from None
    changed = changed_except_length(trained, cfg)
    if changed:
        diffs = ", ".join(
            f"{k}: trained with {getattr(trained, k)!r}, config.json has {getattr(cfg, k)!r}" for k in changed
        )
        raise UserError(
            f"--resume {printable_path(run_dir)}: its config.json was changed since the checkpoints were trained "
            f"({diffs}); restore config.json, or start a new run with the new settings"
        )
