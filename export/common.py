"""What the three exporters share: the input signature, safe writing, and the command line."""

import argparse
import contextlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from engine.errors import UserError, run_cli
from engine.quiet import quiet_tensorflow
from export import metadata
from export.metadata import printable


def input_signature(meta: dict) -> list:
    """tf.TensorSpecs of the exported inputs: `z` float32 [None, latent] (+ `label` int32 [None])."""
    import tensorflow as tf

    spec = [tf.TensorSpec((None, meta["latent_dim"]), tf.float32, name="z")]
    if meta["num_classes"]:
        spec.append(tf.TensorSpec((None,), tf.int32, name="label"))
    return spec


def exportable(generator):
    """`generator` with each nearest-neighbour UpSampling2D replaced by the equivalent Resizing layer.

    Keras 3 builds UpSampling2D from `repeat`, which loses the static height, and the TFLite converter then cannot
    lower the next Conv2D ("'tf.Conv2D' op is neither a custom op nor a flex op"). Both layers are weightless and
    give the same pixels; every export is still checked against the original generator.
    """
    import keras

    def swap(layer):
        if isinstance(layer, keras.layers.UpSampling2D) and layer.interpolation == "nearest":
            return resizing_for(layer)
        return layer.__class__.from_config(layer.get_config())

    if not any(isinstance(layer, keras.layers.UpSampling2D) for layer in generator.layers):
        return generator
    clone = keras.models.clone_model(generator, clone_function=swap)
    clone.set_weights(generator.get_weights())
    return clone


def resizing_for(upsampling):
    """The Resizing layer (nearest, static size) giving the same pixels as a nearest UpSampling2D layer."""
    import keras

    _, h, w, _ = upsampling.input.shape
    sy, sx = upsampling.size
    return keras.layers.Resizing(h * sy, w * sx, interpolation="nearest", name=upsampling.name)


def serving_fn(generator, meta: dict) -> Callable:
    """`fn(z[, label]) -> {"image": ...}` calling the generator in inference mode (BatchNorm moving stats)."""
    if meta["num_classes"]:
        return lambda z, label: {"image": generator([z, label], training=False)}
    return lambda z: {"image": generator(z, training=False)}


# What an export writes, and what --force may replace. An export at OUT writes OUT (a file, or a SavedModel
# directory) and three companions beside it; each is written in a private staging folder first and moved into
# place (a rename: never through an existing path or symlink) only once the export is verified.
SAVEDMODEL_ENTRIES = {"saved_model.pb", "variables", "assets", "fingerprint.pb", "keras_metadata.pb"}
SAVEDMODEL_VARIABLES = re.compile(r"variables\.(index|data-\d{5}-of-\d{5})")
SUFFIXES = {"onnx": ".onnx", "tflite": ".tflite"}  # kind -> the suffix the runtime loads (lowercase, exactly)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CARD_HEAD = b"# Model card: "
STAGING = re.compile(r"\.(?P<name>.+)\.partial-(?P<pid>\d+)-[A-Za-z0-9_]+")  # staging_dir's names


def outputs(out: Path) -> list[Path]:
    """Every path an export at `out` writes: `out`, its metadata sidecar, its model card and the card's grid."""
    out = Path(out)
    return [out, out.with_name(out.name + ".json"), out.with_name(out.name + ".md"), out.with_name(out.name + ".png")]


def check_target(out: Path, force: bool, kind: str) -> None:
    """Refuses to write an export at `out` unless every path it writes (outputs(out)) is new, or `force` is set and
    each existing one is what a previous export of this `kind` wrote there.

    Args:
      kind: "onnx" or "tflite" (`out` must end in that suffix and be a file), or "savedmodel" (a directory).
    Raises:
      UserError: a wrong suffix; a path exists without `force`; or with `force`, one is not a previous export's
        (a run directory or a file of a run, the working directory or one of its parents, a symlink, any other file
        or directory).
    """
    out = Path(out)
    if force and (out.exists() or out.is_symlink()):
        _refuse_replacing(out, out, kind)
    suffix = SUFFIXES.get(kind)
    if suffix and out.suffix != suffix:
        raise UserError(
            f"--out {out}: the file name must end in {suffix} (lowercase: the runtime loads only .onnx and .tflite "
            "files); choose another --out (nothing was written)"
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
        return _savedmodel_refusal(path) if kind == "savedmodel" else _model_file_refusal(path, kind)
    if path.is_dir() or not path.is_file():
        return "is a directory" if path.is_dir() else "is not a regular file"
    if not (out.exists() or out.is_symlink()):
        return f"is not beside a previous export ({out.name} is missing), so it is not known to be an export's"
    if role == 1:
        return None if _is_metadata(path) else "is not an export's metadata sidecar"
    if role == 2:
        return None if _head(path, len(CARD_HEAD)) == CARD_HEAD else "is not an export's model card"
    return None if _head(path, len(PNG_MAGIC)) == PNG_MAGIC else "is not an export's sample grid (a PNG)"


def _lexical(path: Path) -> Path:
    """The absolute path of `path` itself: its folder resolved, a symlink at its last part not followed."""
    return Path(os.path.abspath(path.parent.resolve() / path.name))


def _run_part(here: Path) -> str | None:
    """What `here` is of a training run, if it is one or part of its checkpoints or config."""

    def is_run(d: Path) -> bool:
        return (d / "config.json").is_file() or (d / "checkpoints").is_dir()

    if here.is_dir() and is_run(here):
        return "is a training run directory"
    if here.name == "config.json" and is_run(here.parent):
        return f"is the config of the training run {here.parent}"
    for d in here.parents:
        if d.name == "checkpoints" and (d.parent / "config.json").is_file() and (d / "checkpoint").is_file():
            return f"is inside the checkpoints of the training run {d.parent}"
    return None


def _head(path: Path, n: int) -> bytes:
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


def _model_file_refusal(path: Path, kind: str) -> str | None:
    if path.is_dir() or not path.is_file():
        return "is a directory" if path.is_dir() else "is not a regular file"
    if kind == "tflite":
        ok = _head(path, 8)[4:8] == b"TFL3"
    else:
        ok = _is_onnx_export(path)
    if not ok:
        return f"is not a file export.{kind} wrote (not {'ONNX' if kind == 'onnx' else 'TFLite'} with its metadata)"
    if not _is_metadata(outputs(path)[1]):
        return f"has no metadata sidecar {outputs(path)[1].name} beside it, so it is not known to be an export"
    return None


def _is_onnx_export(path: Path) -> bool:
    """Whether `path` is an ONNX model carrying export.metadata's keys in its metadata_props."""
    try:
        if path.stat().st_size >= 1 << 31:  # protobuf's limit: no ONNX file written here is larger
            return False
        import onnx

        model = onnx.load_model_from_string(path.read_bytes())
    except Exception:  # protobuf's DecodeError and others: not an ONNX file
        return False
    return len(model.graph.node) > 0 and set(metadata.KEYS) <= {p.key for p in model.metadata_props}


def _savedmodel_refusal(path: Path) -> str | None:
    """None when `path` holds a SavedModel and nothing else (checked through the whole tree) and has its sidecar."""
    if not path.is_dir() or not (path / "saved_model.pb").is_file():
        return "is not a SavedModel directory (no saved_model.pb)"
    extra = []
    for root, dirs, files in os.walk(path):
        rel = Path(root).relative_to(path)
        for name in sorted(dirs + files):
            entry, shown = Path(root) / name, (rel / name).as_posix()
            if entry.is_symlink():
                extra.append(shown)
            elif rel == Path("."):
                if name not in SAVEDMODEL_ENTRIES or entry.is_dir() != (name in ("variables", "assets")):
                    extra.append(shown)
            elif rel != Path("variables") or not SAVEDMODEL_VARIABLES.fullmatch(name) or not entry.is_file():
                extra.append(shown)
        dirs[:] = [d for d in dirs if not (Path(root) / d).is_symlink()]
    if extra:
        return f"holds files a SavedModel does not ({', '.join(extra[:3])}{', ...' if len(extra) > 3 else ''})"
    if not _is_metadata(outputs(path)[1]):
        return f"has no metadata sidecar {outputs(path)[1].name} beside it, so it is not known to be an export"
    return None


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
        if match and entry.is_dir(follow_symlinks=False) and not _alive(int(match["pid"])):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (or a name this program did not make): left alone
    return True


def say(line: str) -> None:
    """Prints an exporter's line (file names from any bytes included)."""
    print(printable(line), flush=True)


@contextlib.contextmanager
def litert_quiet():
    """Holds back LiteRT's own `INFO: ...` lines (e.g. "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    printed on file descriptor 2 at the first invoke) when TF_CPP_MIN_LOG_LEVEL hides TensorFlow's INFO lines, as
    the CLIs set it; every other line written meanwhile is passed on."""
    try:
        level = int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") or 0)
    except ValueError:
        level = 0
    if level < 1:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().splitlines(keepends=True) if not line.startswith(b"INFO: ")]
            if kept:
                sys.stderr.write(b"".join(kept).decode(errors="replace"))
                sys.stderr.flush()


def main(fmt: str, export_fn: Callable, default_name: str, extra_args: Callable | None = None, argv=None) -> None:
    """The shared CLI: `python -m export.<fmt> [--run-dir DIR] [--out PATH] [--force]` (`argv`: default sys.argv)."""

    def run():
        parser = argparse.ArgumentParser(
            prog=f"python -m export.{fmt}", description=f"Export a trained generator to {fmt}, verified against Keras."
        )
        parser.add_argument("--run-dir", default=None, help="run directory (default: runs/latest)")
        parser.add_argument("--out", default=None, help=f"output path (default: <run-dir>/export/{default_name})")
        parser.add_argument("--force", action="store_true", help="replace a previous export at --out")
        parser.add_argument(
            "--verbose", action="store_true", help="show TensorFlow's own log lines (hidden by default)"
        )
        parser.add_argument(
            "--plain",
            action="store_true",
            help="convert the generator's own layers, not the optimised graph (docs/export.md)",
        )
        if extra_args:
            extra_args(parser)
        args = parser.parse_args(argv)
        quiet_tensorflow(args.verbose)
        kwargs = {k: v for k, v in vars(args).items() if k not in ("run_dir", "out", "force", "verbose")}
        export_fn(args.run_dir, args.out, force=args.force, verbose=True, **kwargs)

    run_cli(run)


def load_for_export(run_dir, out, default_name: str, force: bool, kind: str):
    """(generator, meta, checkpoint prefix, output path) for a run, refusing to overwrite without force.

    The weights are the run's best checkpoint by FID when it kept one (trained with --eval-every), else the newest.
    """
    from engine import rundir

    run_path = rundir.resolve(run_dir)
    out_path = Path(out) if out else run_path / "export" / default_name
    # TensorFlow opens paths as UTF-8: the run's checkpoints always, and the staging folder beside --out when the
    # export goes through a SavedModel.
    for what, path in [("run directory", run_path)] + [("--out", out_path)] * (kind != "onnx"):
        try:
            os.fsdecode(path).encode("utf-8")
        except UnicodeEncodeError:
            raise UserError(
                f"the {what} {printable(os.fsdecode(path))} has a name that is not UTF-8, which TensorFlow cannot "
                "open; rename it (or pass a UTF-8 path that links to it)"
            ) from None
    check_target(out_path, force, kind)
    generator, meta, prefix = rundir.load_generator(run_path)
    return generator, meta, prefix, out_path


def staged_path(tmp, out: Path) -> Path:
    """Where an export at `out` is written inside its staging folder `tmp`: under the same name, so its sidecar and
    card (which name it) are written beside it and published with it."""
    folder = Path(tmp) / "out"
    folder.mkdir(exist_ok=True)
    return folder / Path(out).name


def run_of(prefix: str) -> Path:
    """The run directory a checkpoint prefix belongs to (RUN/checkpoints[/best]/ckpt-N)."""
    from engine import rundir

    path = Path(prefix)
    return next((p.parent for p in path.parents if p.name == rundir.CHECKPOINTS), path.parent)


def source_line(prefix: str) -> str:
    """ "exporting ckpt-N, <best by FID at step S (FID x) | latest (step S)>, of RUN": which weights were taken."""
    from engine import rundir

    return f"exporting {Path(prefix).name}, {rundir.checkpoint_label(prefix)}, of {run_of(prefix)}"


def verified(check: Callable[[], dict], meta: dict) -> dict:
    """`check()` (a parity check), naming `--plain` in its error when the file holds the optimised graph."""
    try:
        return check()
    except UserError as e:
        if meta.get("graph") != "optimised":
            raise
        raise UserError(f"{e} (optimised graph: `--plain` exports the generator's own layers)") from None


def parity_line(what: str, path: Path, parity: dict) -> str:
    errors = ", ".join(f"batch {k.split('_')[1]}: {v['max_abs_error']:.2e}" for k, v in parity.items())
    return f"{what}: wrote {path} (verified against Keras, max abs error {errors})"
