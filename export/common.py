"""What the three exporters share: the input signature, safe writing, and the command line."""

import argparse
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from engine.errors import UserError, run_cli


def input_signature(meta: dict) -> list:
    """tf.TensorSpecs of the exported inputs: `z` float32 [None, latent] (+ `label` int32 [None])."""
    import tensorflow as tf

    spec = [tf.TensorSpec((None, meta["latent_dim"]), tf.float32, name="z")]
    if meta["num_classes"]:
        spec.append(tf.TensorSpec((None,), tf.int32, name="label"))
    return spec


def serving_fn(generator, meta: dict) -> Callable:
    """`fn(z[, label]) -> {"image": ...}` calling the generator in inference mode (BatchNorm moving stats)."""
    if meta["num_classes"]:
        return lambda z, label: {"image": generator([z, label], training=False)}
    return lambda z: {"image": generator(z, training=False)}


def check_target(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise UserError(f"{out} exists; pass --force to overwrite it (nothing was written)")


def publish(tmp: Path, out: Path) -> None:
    """Moves a verified file or directory into place, replacing `out` only now that the new one is good."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.is_dir():
        shutil.rmtree(out)
    os.replace(tmp, out)


def staging_dir(out: Path) -> tempfile.TemporaryDirectory:
    """A temporary directory beside `out` (same filesystem, so the final move is a rename)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=f".{out.name}-", dir=out.parent)


def main(fmt: str, export_fn: Callable, default_name: str, extra_args: Callable | None = None) -> None:
    """The shared CLI: `python -m export.<fmt> [--run-dir DIR] [--out PATH] [--force]`."""

    def run():
        parser = argparse.ArgumentParser(prog=f"python -m export.{fmt}",
                                         description=f"Export a trained generator to {fmt}, verified against Keras.")
        parser.add_argument("--run-dir", default=None, help="run directory (default: runs/latest)")
        parser.add_argument("--out", default=None, help=f"output path (default: <run-dir>/export/{default_name})")
        parser.add_argument("--force", action="store_true", help="overwrite an existing output")
        if extra_args:
            extra_args(parser)
        args = parser.parse_args()
        kwargs = {k: v for k, v in vars(args).items() if k not in ("run_dir", "out", "force")}
        export_fn(args.run_dir, args.out, force=args.force, verbose=True, **kwargs)

    run_cli(run)


def load_for_export(run_dir, out, default_name: str, force: bool):
    """(generator, meta, checkpoint prefix, output path) for a run, refusing to overwrite without force."""
    from engine import rundir

    run_path = rundir.resolve(run_dir)
    out_path = Path(out) if out else run_path / "export" / default_name
    check_target(out_path, force)
    generator, meta, prefix = rundir.load_generator(run_path)
    return generator, meta, prefix, out_path


def parity_line(what: str, path: Path, parity: dict) -> str:
    errors = ", ".join(f"batch {k.split('_')[1]}: {v['max_abs_error']:.2e}" for k, v in parity.items())
    return f"{what}: wrote {path} (verified against Keras, max abs error {errors})"
