"""What the three exporters share: the input signature, safe writing, and the command line."""

import argparse
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from engine.errors import UserError, run_cli
from engine.quiet import quiet_tensorflow


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


# What a SavedModel directory written by export.savedmodel may hold; --force replaces nothing else.
SAVEDMODEL_ENTRIES = {"saved_model.pb", "variables", "assets", "fingerprint.pb", "keras_metadata.pb"}


def check_target(out: Path, force: bool, kind: str = "file") -> None:
    """Refuses to write `out` unless it is new, or `force` is set and `out` is a previous export of this `kind`.

    Args:
      kind: "file" (.onnx, .tflite: `out` must be a regular file) or "savedmodel" (`out` must be a directory
        holding `saved_model.pb` and only what a SavedModel holds).
    Raises:
      UserError: `out` exists without `force`; or with `force`, `out` is not a previous export of this kind (a run
        directory, the working directory or one of its parents, any other directory or file).
    """
    if not (out.exists() or out.is_symlink()):
        return
    if not force:
        raise UserError(f"{out} exists; pass --force to overwrite it (nothing was written)")
    problem = replace_refusal(out, kind)
    if problem:
        raise UserError(
            f"--force: {out} {problem}; --force replaces only a previous export of this kind, so choose "
            "another --out (nothing was written or deleted)"
        )


def replace_refusal(out: Path, kind: str) -> str | None:
    """Why `out` must not be replaced by a new export of `kind`, or None when it is a previous one."""
    real, cwd = out.resolve(), Path.cwd().resolve()
    if real == cwd or real in cwd.parents:
        return "is the working directory or one of its parents"
    if out.is_dir() and ((out / "config.json").exists() or (out / "checkpoints").exists()):
        return "is a training run directory"
    if kind == "savedmodel":
        if out.is_symlink() or not out.is_dir() or not (out / "saved_model.pb").is_file():
            return "is not a SavedModel directory (no saved_model.pb)"
        extra = sorted(p.name for p in out.iterdir() if p.name not in SAVEDMODEL_ENTRIES)
        if extra:
            return f"holds files a SavedModel does not ({', '.join(extra[:3])})"
        return None
    if out.is_dir() or not out.is_file():
        return "is a directory" if out.is_dir() else "is not a regular file"
    return None


def publish(tmp: Path, out: Path, kind: str = "file") -> None:
    """Moves a verified file or directory into place, replacing `out` only now that the new one is good.

    `out` is checked again here (it may have changed since check_target): only a previous export is replaced.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists() or out.is_symlink():
        problem = replace_refusal(out, kind)
        if problem:
            raise UserError(f"{out} {problem}; not replaced (nothing was written or deleted)")
        if out.is_dir():
            shutil.rmtree(out)
    os.replace(tmp, out)


def staging_dir(out: Path) -> tempfile.TemporaryDirectory:
    """A temporary directory beside `out` (same filesystem, so the final move is a rename)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryDirectory(prefix=f".{out.name}-", dir=out.parent)
    except OSError as e:
        raise UserError(f"cannot write into {out.parent} ({e.strerror}); choose a writable --out") from None


def main(fmt: str, export_fn: Callable, default_name: str, extra_args: Callable | None = None) -> None:
    """The shared CLI: `python -m export.<fmt> [--run-dir DIR] [--out PATH] [--force]`."""

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
        args = parser.parse_args()
        quiet_tensorflow(args.verbose)
        kwargs = {k: v for k, v in vars(args).items() if k not in ("run_dir", "out", "force", "verbose")}
        export_fn(args.run_dir, args.out, force=args.force, verbose=True, **kwargs)

    run_cli(run)


def load_for_export(run_dir, out, default_name: str, force: bool, kind: str = "file"):
    """(generator, meta, checkpoint prefix, output path) for a run, refusing to overwrite without force.

    The weights are the run's best checkpoint by FID when it kept one (trained with --eval-every), else the newest.
    """
    from engine import rundir

    run_path = rundir.resolve(run_dir)
    out_path = Path(out) if out else run_path / "export" / default_name
    check_target(out_path, force, kind)
    generator, meta, prefix = rundir.load_generator(run_path)
    return generator, meta, prefix, out_path


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
