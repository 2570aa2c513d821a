"""Generator -> TF SavedModel whose `serving_default` takes `z` (and `label`) and returns {"image": ...}.

Usage: python -m export.savedmodel [--run-dir DIR] [--out PATH] [--force] [--plain]

The SavedModel holds the optimised graph (export.optimise) unless --plain; either way it is checked against the
Keras generator.
"""

from pathlib import Path

from export.common import Format, export_run, exportable, input_signature, main, serving_fn, write_export

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


FORMAT = Format(kind="savedmodel", name="SavedModel", convert=_save, runner=_signature_runner)


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


if __name__ == "__main__":
    main("savedmodel", export_savedmodel, DEFAULT_NAME)
