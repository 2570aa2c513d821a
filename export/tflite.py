"""Generator -> TFLite (LiteRT) file with signature `serving_default`: `z` (and `label`) -> `image`.

Converted from Keras's own SavedModel export (a hand-made tf.Module SavedModel gave NaN on this stack).
Metadata goes in a JSON sidecar `<file>.json`. Usage: python -m export.tflite [--run-dir DIR] [--out PATH] [--force]
"""

from pathlib import Path

import numpy as np

from export import metadata
from export.common import load_for_export, main, publish, parity_line, staging_dir
from export.savedmodel import save_archive
from export.verify import check_parity

DEFAULT_NAME = "generator.tflite"


def litert_runner(model_bytes: bytes):
    """`run(inputs) -> image` over a LiteRT interpreter; resizes the batch to each call's inputs."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_bytes)
    runner = interpreter.get_signature_runner("serving_default")
    return lambda inputs: np.asarray(runner(**inputs)["image"])


def write_tflite(generator, meta: dict, path, *, log=None) -> Path:
    """Writes a verified .tflite file at `path` and its metadata sidecar; raises UserError (nothing written) on disagreement."""
    import tensorflow as tf

    path = Path(path)
    with staging_dir(path) as tmp:
        saved = Path(tmp) / "saved_model"
        save_archive(generator, meta, saved)
        model_bytes = tf.lite.TFLiteConverter.from_saved_model(str(saved)).convert()
        parity = check_parity(generator, litert_runner(model_bytes), meta, what="TFLite")
        staged = Path(tmp) / path.name
        staged.write_bytes(model_bytes)
        publish(staged, path)
    metadata.write_sidecar(path, meta)
    if log:
        log(parity_line("TFLite", path, parity))
    return path


def export_tflite(run_dir=None, out=None, *, force: bool = False, verbose: bool = False) -> Path:
    """Exports a run's newest checkpoint (default runs/latest) to `out` (default <run>/export/generator.tflite)."""
    generator, meta, prefix, out = load_for_export(run_dir, out, DEFAULT_NAME, force)
    if verbose:
        print(f"exporting {Path(prefix).name} (step {meta['step']}) of {Path(prefix).parent.parent}")
    return write_tflite(generator, meta, out, log=print if verbose else None)


if __name__ == "__main__":
    main("tflite", export_tflite, DEFAULT_NAME)
