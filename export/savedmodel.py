"""Generator -> TF SavedModel whose `serving_default` takes `z` (and `label`) and returns {"image": ...}.

Usage: python -m export.savedmodel [--run-dir DIR] [--out PATH] [--force] [--plain]

The SavedModel holds the optimised graph (export.optimise) unless --plain; either way it is checked against the
Keras generator.
"""

from pathlib import Path

from export import metadata
from export.card import write_card
from export.common import (
    check_target,
    exportable,
    input_signature,
    load_for_export,
    main,
    parity_line,
    publish,
    run_of,
    say,
    serving_fn,
    source_line,
    staged_path,
    staging_dir,
    verified,
)
from export.verify import check_parity

DEFAULT_NAME = "saved_model"


def save_archive(generator, meta: dict, path) -> None:
    """Writes the SavedModel with Keras's ExportArchive (Keras's own path; TFLite converts it exactly)."""
    import keras

    generator = exportable(generator)
    archive = keras.export.ExportArchive()
    archive.track(generator)
    archive.add_endpoint("serving_default", serving_fn(generator, meta), input_signature=input_signature(meta))
    archive.write_out(str(path), verbose=False)


def write_savedmodel(
    generator, meta: dict, path, *, plain: bool = False, force: bool = False, log=None, run_dir=None
) -> Path:
    """Writes a verified SavedModel directory at `path`, its metadata sidecar `<path>.json` and its model card
    (`run_dir`: the run it came from), staged and published together.

    Returns:
      The path. Raises UserError (nothing written) if the reloaded model disagrees with Keras, or if one of the
      paths exists (without `force`) or is not a previous export's (with it: the whole tree is checked).
    """
    import tensorflow as tf

    from export.optimise import for_export

    path = Path(path)
    check_target(path, force, "savedmodel")
    graph, notes = for_export(generator, plain)
    meta = metadata.for_variant(meta, variant="float32", graph="optimised" if notes else "plain")
    with staging_dir(path) as tmp:
        staged = staged_path(tmp, path)
        save_archive(graph, meta, staged)
        signature = tf.saved_model.load(str(staged)).signatures["serving_default"]
        run = lambda inputs: signature(**{k: tf.constant(v) for k, v in inputs.items()})["image"].numpy()
        parity = verified(lambda: check_parity(generator, run, meta, what="SavedModel"), meta)
        metadata.write_sidecar(staged, meta)
        write_card(staged, generator, meta, parity, what="SavedModel float32", run_dir=run_dir, graph_notes=notes)
        publish(staged, path, force=force, kind="savedmodel")
    if log:
        log(parity_line("SavedModel", path, parity))
    return path


def export_savedmodel(
    run_dir=None, out=None, *, force: bool = False, plain: bool = False, verbose: bool = False
) -> Path:
    """Exports a run (default runs/latest) to `out` (default <run>/export/saved_model).

    Takes the run's best checkpoint by FID when it kept one, else its newest, and says which.
    """
    generator, meta, prefix, out = load_for_export(run_dir, out, DEFAULT_NAME, force, "savedmodel")
    if verbose:
        say(source_line(prefix))
    return write_savedmodel(
        generator, meta, out, plain=plain, force=force, log=say if verbose else None, run_dir=run_of(prefix)
    )


if __name__ == "__main__":
    main("savedmodel", export_savedmodel, DEFAULT_NAME)
