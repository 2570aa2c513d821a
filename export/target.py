"""Where an export may write, and writing it there whole: the target checks (--force replaces a previous export's
files and nothing else), staging, and publishing every file of an export together by rename."""

import dataclasses
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from engine.errors import UserError
from engine.registry import Registry
from engine.run.layout import CHECKPOINT_STATE, CHECKPOINTS, CONFIG_FILE
from export import metadata
from export.runtime import SUFFIXES
from safeio import alive

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CARD_HEAD = b"# Model card: "
STAGING = re.compile(r"\.(?P<name>.+)\.partial-(?P<pid>\d+)-[A-Za-z0-9_]+")  # staging_dir's names


@dataclasses.dataclass(frozen=True)
class Kind:
    """What the target checks know of one format's exports: how the file is named and how to tell a previous one.

    Attributes:
      name: the format's module under export/ ("onnx"): check_target's and publish's `kind`.
      suffix: the exact (lowercase) suffix of its file; None when it writes a directory.
      refusal: `(path) -> str | None`: why `path` is not what this format writes (None: it is); its metadata
        sidecar is checked apart.
    """

    name: str
    suffix: str | None
    refusal: Callable[[Path], str | None]


KINDS = Registry("export kind")  # name -> Kind, filled by each format's module (register_kind)


def register_kind(kind: Kind) -> Kind:
    # Set, not Registry.register: a format's module runs again as `python -m export.onnx` (and under runpy) beside
    # its imported copy, and registers the same kind again.
    KINDS[kind.name] = kind
    return kind


def model_file(name: str, label: str, looks_like: Callable[[Path], bool]) -> Callable[[Path], str | None]:
    """The refusal of a format that writes one file: a regular file that `looks_like` recognises."""

    def refusal(path: Path) -> str | None:
        if path.is_dir() or not path.is_file():
            return "is a directory" if path.is_dir() else "is not a regular file"
        return None if looks_like(path) else f"is not a file export.{name} wrote (not {label} with its metadata)"

    return refusal


def outputs(out: Path) -> list[Path]:
    """Every path an export at `out` writes: `out`, its metadata sidecar, its model card and the card's grid."""
    out = Path(out)
    return [out, out.with_name(out.name + ".json"), out.with_name(out.name + ".md"), out.with_name(out.name + ".png")]


def check_target(out: Path, force: bool, kind: str) -> None:
    """Refuses to write an export at `out` unless every path it writes (outputs(out)) is new, or `force` is set and
    each existing one is what a previous export of this `kind` wrote there.

    Args:
      kind: a registered Kind's name ("onnx", "tflite": `out` must end in its suffix; "savedmodel": a directory).
    Raises:
      UserError: a wrong suffix; a path exists without `force`; or with `force`, one is not a previous export's
        (a run directory or a file of a run, the working directory or one of its parents, a symlink, any other file
        or directory).
    """
    out = Path(out)
    if force and (out.exists() or out.is_symlink()):
        _refuse_replacing(out, out, kind)
    suffix = KINDS.get_or_fail(kind).suffix
    if suffix and out.suffix != suffix:
        raise UserError(
            f"--out {out}: the file name must end in {suffix} (lowercase: the runtime loads only "
            f"{' and '.join(SUFFIXES)} files); choose another --out (nothing was written)"
        )
    paths = outputs(out) if out.name else [out]
    for path in paths:
        problem = _run_part(_lexical(path))
        if problem:
            where = f"--out {out}" if path == out else f"--out {out}: {path}"
            raise UserError(f"{where} {problem}; choose another --out (nothing was written)")
    existing = [p for p in paths if p.exists() or p.is_symlink()]
    if existing and not force:
        more = f" and {', '.join(p.name for p in existing[1:])}" if len(existing) > 1 else ""
        raise UserError(
            f"{existing[0]} exists; pass --force to overwrite it{more}, if a previous export wrote "
            f"{'them' if more else 'it'} (nothing was written)"
        )
    for path in existing:
        _refuse_replacing(path, out, kind)


def _refuse_replacing(path: Path, out: Path, kind: str) -> None:
    problem = replace_refusal(path, kind, out=out)
    if problem:
        raise UserError(
            f"--force: {path} {problem}; --force replaces only a previous export of this kind (what it wrote: the "
            "file or SavedModel, its .json, .md, .png), so choose another --out (nothing was written or deleted)"
        )


def replace_refusal(path: Path, kind: str, *, out: Path | None = None) -> str | None:
    """Why `path` must not be replaced by an export of `kind` at `out` (default `path`), or None when it is what a
    previous export wrote there: `out` itself recognised by its format and its sidecar, or one of its companions
    recognised by its own format."""
    path = Path(path)
    out = path if out is None else Path(out)
    here = _lexical(path)
    cwd = Path.cwd().resolve()
    if here == cwd or here in cwd.parents:
        return "is the working directory or one of its parents"
    problem = _run_part(here)
    if problem:
        return problem
    if path.is_symlink():
        return "is a symbolic link"
    role = outputs(out).index(path) if path in outputs(out) else 0
    if role == 0:
        problem = KINDS.get_or_fail(kind).refusal(path)
        if problem:
            return problem
        if not _is_metadata(outputs(path)[1]):
            return f"has no metadata sidecar {outputs(path)[1].name} beside it, so it is not known to be an export"
        return None
    if path.is_dir() or not path.is_file():
        return "is a directory" if path.is_dir() else "is not a regular file"
    if not (out.exists() or out.is_symlink()):
        return f"is not beside a previous export ({out.name} is missing), so it is not known to be an export's"
    if role == 1:
        return None if _is_metadata(path) else "is not an export's metadata sidecar"
    if role == 2:
        return None if head(path, len(CARD_HEAD)) == CARD_HEAD else "is not an export's model card"
    return None if head(path, len(PNG_MAGIC)) == PNG_MAGIC else "is not an export's sample grid (a PNG)"


def _lexical(path: Path) -> Path:
    """The absolute path of `path` itself: its folder resolved, a symlink at its last part not followed."""
    return Path(os.path.abspath(path.parent.resolve() / path.name))


def _run_part(here: Path) -> str | None:
    """What `here` is of a training run, if it is one or part of its checkpoints or config."""

    def is_run(d: Path) -> bool:
        return (d / CONFIG_FILE).is_file() or (d / CHECKPOINTS).is_dir()

    if here.is_dir() and is_run(here):
        return "is a training run directory"
    if here.name == CONFIG_FILE and is_run(here.parent):
        return f"is the config of the training run {here.parent}"
    for d in here.parents:
        if d.name == CHECKPOINTS and (d.parent / CONFIG_FILE).is_file() and (d / CHECKPOINT_STATE).is_file():
            return f"is inside the checkpoints of the training run {d.parent}"
    return None


def head(path: Path, n: int) -> bytes:
    """The first `n` bytes of `path` (fewer, or none when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def _is_metadata(path: Path) -> bool:
    """Whether `path` is a metadata sidecar an exporter wrote (a small JSON object with export.metadata's keys)."""
    from export.runtime import read_sidecar_json

    try:
        meta = read_sidecar_json(path)
        return isinstance(meta, dict) and bool(metadata.check(meta))
    except ValueError:  # GeneratorFileError included
        return False


def publish(staged: Path, out: Path, *, force: bool = False, kind: str) -> None:
    """Moves a verified export and its companions (staged under the same names) into place, each by a rename.

    Without `force` a name is claimed only if it is still free (a hard link, or an exclusive create, then the
    rename), so of two exports to one `out` at once the second is refused, not silently written over the first.
    With `force` each path that exists now is checked again (it may have changed since check_target) and replaced
    only if it is a previous export's.

    Raises:
      UserError: a path appeared meanwhile (without force) or is not a previous export's (with force); then none
        of the new files is left in place.
    """
    out = Path(out)
    pairs = [(s, o) for s, o in zip(outputs(staged), outputs(out), strict=True) if s.exists()]
    if force:
        for _, o in pairs:
            problem = (o.exists() or o.is_symlink()) and replace_refusal(o, kind, out=out)
            if problem:
                raise UserError(f"{o} {problem}; not replaced (nothing was written or deleted)")
        for s, o in pairs:
            if o.is_dir() and not o.is_symlink():
                os.replace(o, staged.parent / f"{staged.name}.replaced")  # the old tree goes with the staging folder
            os.replace(s, o)
        return
    claimed = []
    for s, o in pairs:
        try:
            _claim(s, o)
        except FileExistsError:
            for mine in claimed:
                shutil.rmtree(mine) if mine.is_dir() and not mine.is_symlink() else mine.unlink()
            raise UserError(
                f"{o} appeared while this export ran (another export to the same --out?); pass --force to replace it "
                "(nothing was written)"
            ) from None
        claimed.append(o)


def _claim(src: Path, dst: Path) -> None:
    """Puts `src` at `dst` only if `dst` does not exist (FileExistsError otherwise)."""
    if src.is_dir():
        os.mkdir(dst)  # exclusive; the rename then replaces this empty directory
        os.replace(src, dst)
        return
    try:
        os.link(src, dst)  # atomic and exclusive
    except FileExistsError:
        raise
    except OSError:  # a filesystem without hard links: an exclusive create, then the rename over it
        with open(dst, "xb"):
            pass
        os.replace(src, dst)


def staging_dir(out: Path) -> tempfile.TemporaryDirectory:
    """A private folder beside `out` (same filesystem, so publishing is a rename), named
    `.<name>.partial-<pid>-<random>`; folders of that name left by an export that was killed (its process is gone)
    are removed first."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(out.parent)
        return tempfile.TemporaryDirectory(prefix=f".{out.name}.partial-{os.getpid()}-", dir=out.parent)
    except OSError as e:
        raise UserError(f"cannot write into {out.parent} ({e.strerror or e}); choose a writable --out") from None


def remove_stale_staging(directory: Path) -> list[Path]:
    """Removes staging folders in `directory` whose export process no longer runs; returns them."""
    removed = []
    for entry in os.scandir(directory):
        match = STAGING.fullmatch(entry.name)
        if match and entry.is_dir(follow_symlinks=False) and not alive(int(match["pid"])):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def staged_path(tmp, out: Path) -> Path:
    """Where an export at `out` is written inside its staging folder `tmp`: under the same name, so its sidecar and
    card (which name it) are written beside it and published with it."""
    folder = Path(tmp) / "out"
    folder.mkdir(exist_ok=True)
    return folder / Path(out).name
