"""Generator -> TF SavedModel whose `serving_default` takes `z` (and `label`) and returns {"image": ...}.

Usage: python -m export.savedmodel [--run-dir DIR] [--out PATH] [--force] [--plain]

The SavedModel holds the optimised graph (export.optimise) unless --plain; either way it is checked against the
Keras generator.
"""

import os
import re
from pathlib import Path

from export.common import (
    Command,
    Format,
    export_run,
    exportable,
    input_signature,
    register_format,
    serving_fn,
    write_export,
)
from export.target import Kind, register_kind

DEFAULT_NAME = "saved_model"


def save_archive(generator, meta: dict, path) -> None:
    """Writes the SavedModel with Keras's ExportArchive (Keras's own path; TFLite converts it exactly)."""
    import keras

    generator = exportable(generator)
    archive = keras.export.ExportArchive()
    archive.track(generator)
    archive.add_endpoint("serving_default", serving_fn(generator, meta), input_signature=input_signature(meta))
    archive.write_out(str(path), verbose=False)


def _save(generator, graph, meta: dict, *, scratch: Path, staged: Path) -> Path:
    """Writes `graph` as the SavedModel at `staged` (verified there, then published as it is)."""
    save_archive(graph, meta, staged)
    return staged


def _signature_runner(path: Path, meta: dict):
    """`run(inputs) -> image` over the SavedModel at `path`, reloaded: its `serving_default` signature."""
    import tensorflow as tf

    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    return lambda inputs: signature(**{k: tf.constant(v) for k, v in inputs.items()})["image"].numpy()


ENTRIES = {"saved_model.pb", "variables", "assets", "fingerprint.pb", "keras_metadata.pb"}
VARIABLES = re.compile(r"variables\.(index|data-\d{5}-of-\d{5})")


def _refusal(path: Path) -> str | None:
    """None when `path` holds a SavedModel and nothing else (checked through the whole tree)."""
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
                if name not in ENTRIES or entry.is_dir() != (name in ("variables", "assets")):
                    extra.append(shown)
            elif rel != Path("variables") or not VARIABLES.fullmatch(name) or not entry.is_file():
                extra.append(shown)
        dirs[:] = [d for d in dirs if not (Path(root) / d).is_symlink()]
    if extra:
        return f"holds files a SavedModel does not ({', '.join(extra[:3])}{', ...' if len(extra) > 3 else ''})"
    return None


KIND = register_kind(Kind("savedmodel", None, _refusal))
FORMAT = register_format(Format(kind="savedmodel", name="SavedModel", convert=_save, runner=_signature_runner))


def write_savedmodel(
    generator, meta: dict, path, *, plain: bool = False, force: bool = False, log=None, run_dir=None
) -> Path:
    """Writes a verified SavedModel directory at `path`, its metadata sidecar `<path>.json` and its model card
    (export.common.write_export: `plain`, `force`, `log`, `run_dir`; with `force` the whole tree is checked).

    Returns:
      The path. Raises UserError as write_export does (nothing written).
    """
    return write_export(FORMAT, generator, meta, path, plain=plain, force=force, log=log, run_dir=run_dir)


def export_savedmodel(
    run_dir=None, out=None, *, force: bool = False, plain: bool = False, verbose: bool = False
) -> Path:
    """Exports a run (default runs/latest) to `out` (default <run>/export/saved_model).

    Takes the run's best checkpoint by FID when it kept one, else its newest, and says which.
    """
    return export_run(FORMAT, write_savedmodel, run_dir, out, DEFAULT_NAME, force=force, verbose=verbose, plain=plain)


COMMAND = Command("savedmodel", export_savedmodel, DEFAULT_NAME)

if __name__ == "__main__":
    COMMAND.main()
