"""Generator -> TFLite (LiteRT) file with signature `serving_default`: `z` (and `label`) -> `image`.

Converted from Keras's own SavedModel export (a hand-made tf.Module SavedModel gave NaN on this stack). Metadata goes
in a JSON sidecar `<file>.json`.

Usage: python -m export.tflite [--run-dir DIR] [--out PATH] [--force] [--quantize none|float16|dynamic|int8]
                               [--calibration N] [--plain]

--quantize picks the numeric variant: `none` float32; `float16` weights stored as float16 (half the size, computed in
float32 on CPUs); `dynamic` int8 weights with float activations; `int8` full integer arithmetic, calibrated on N
latent vectors drawn from the training distribution (and uniformly drawn labels for conditional generators). Every
variant keeps float32 `z`, int32 `label` and float32 `image`: the int8 file quantises `z` and dequantises `image`
inside itself (two cheap ops on the edges), so apps call every variant the same way.
"""

from pathlib import Path

import numpy as np

from engine.errors import UserError
from export import metadata
from export.card import write_card
from export.common import (
    check_target,
    litert_quiet,
    load_for_export,
    main,
    parity_line,
    publish,
    run_of,
    say,
    source_line,
    staged_path,
    staging_dir,
    verified,
)
from export.savedmodel import save_archive
from export.verify import CALIBRATION_BATCH, budget_for, check_parity, representative_inputs

DEFAULT_NAME = "generator.tflite"
QUANTIZE = {"none": "float32", "float16": "float16", "dynamic": "dynamic", "int8": "int8"}  # option -> variant
CALIBRATION = 512  # latent vectors for int8 calibration; the ranges settle well before this
# Element-wise ops the int8 variant keeps in float32 (TFLite builtin names).
FLOAT_OPS = ("GREATER", "SELECT_V2", "EXP", "MUL", "SUB", "ADD")


def default_name(quantize: str = "none") -> str:
    return DEFAULT_NAME if quantize == "none" else f"generator_{quantize}.tflite"


def litert_runner(model_bytes: bytes):
    """`run(inputs) -> image` over a LiteRT interpreter; resizes the batch to each call's inputs."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_bytes)
    runner = interpreter.get_signature_runner("serving_default")
    return lambda inputs: np.asarray(runner(**inputs)["image"])


def convert(saved_model_dir, meta: dict, quantize: str = "none", calibration: int = CALIBRATION) -> bytes:
    """The TFLite flatbuffer of a SavedModel in the given variant (not yet verified)."""
    import tensorflow as tf

    if quantize not in QUANTIZE:
        raise ValueError(f"unknown --quantize {quantize!r} (valid: {', '.join(QUANTIZE)})")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        converter.representative_dataset = representative_inputs(meta, calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
        # Convolutions and Dense in int8, element-wise ops in float: quantising those too (SELU's
        # GREATER/SELECT_V2/EXP/MUL/SUB, BatchNorm's MUL/ADD) gave a mean error of 0.35 on [-1, 1] for dcgan_fashion
        # after 3 epochs, against 0.012 this way (README "Variants").
        options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(FLOAT_OPS))
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=representative_inputs(meta, CALIBRATION_BATCH), debug_options=options
        )
        return debugger.get_nondebug_quantized_model()
    return converter.convert()


def write_tflite(
    generator,
    meta: dict,
    path,
    *,
    quantize: str = "none",
    calibration: int = CALIBRATION,
    plain: bool = False,
    force: bool = False,
    log=None,
    run_dir=None,
) -> Path:
    """Writes a verified .tflite file at `path`, its metadata sidecar and its model card (`run_dir`: its run).

    The file holds the optimised graph (export.optimise) unless `plain`; either way it is checked against
    `generator` itself. The files are staged and published together; `force` replaces a previous export's files,
    and nothing else.

    Raises:
      UserError: the file disagrees with Keras beyond its variant's budget (export.verify), or one of the paths
        exists (without `force`) or is not a previous export's (with it); nothing is written.
    """
    if quantize not in QUANTIZE:
        raise ValueError(f"unknown --quantize {quantize!r} (valid: {', '.join(QUANTIZE)})")
    if calibration < 1:
        raise ValueError(f"calibration needs at least 1 latent vector, got {calibration}")
    from export.optimise import for_export

    path = Path(path)
    check_target(path, force, "tflite")
    variant = QUANTIZE[quantize]
    graph, notes = for_export(generator, plain)
    meta = metadata.for_variant(meta, variant=variant, graph="optimised" if notes else "plain")
    with staging_dir(path) as tmp:
        saved = Path(tmp) / "saved_model"
        save_archive(graph, meta, saved)
        model_bytes = convert(saved, meta, quantize, calibration)
        with litert_quiet():  # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate" at its first invoke
            parity = verified(
                lambda: check_parity(
                    generator,
                    litert_runner(model_bytes),
                    meta,
                    what=f"TFLite {variant}",
                    budget=budget_for(variant, meta["output_range"]),
                ),
                meta,
            )
        staged = staged_path(tmp, path)
        staged.write_bytes(model_bytes)
        metadata.write_sidecar(staged, meta)
        write_card(staged, generator, meta, parity, what=f"TFLite {variant}", run_dir=run_dir, graph_notes=notes)
        publish(staged, path, force=force, kind="tflite")
    if log:
        log(parity_line(f"TFLite {variant}", path, parity))
    return path


def export_tflite(
    run_dir=None,
    out=None,
    *,
    force: bool = False,
    quantize: str = "none",
    calibration: int = CALIBRATION,
    plain: bool = False,
    verbose: bool = False,
) -> Path:
    """Exports a run (default runs/latest) to `out` (default <run>/export/generator[_Q].tflite).

    Takes the run's best checkpoint by FID when it kept one, else its newest, and says which.
    """
    if calibration < 1:
        raise UserError(f"--calibration must be >= 1, got {calibration}")
    generator, meta, prefix, out = load_for_export(run_dir, out, default_name(quantize), force, "tflite")
    if verbose:
        say(source_line(prefix))
    return write_tflite(
        generator,
        meta,
        out,
        quantize=quantize,
        calibration=calibration,
        plain=plain,
        force=force,
        log=say if verbose else None,
        run_dir=run_of(prefix),
    )


def _args(parser) -> None:
    parser.add_argument(
        "--quantize",
        default="none",
        choices=list(QUANTIZE),
        help="numeric variant (default none = float32); int8 is full integer, float32 I/O",
    )
    parser.add_argument(
        "--calibration",
        type=int,
        default=CALIBRATION,
        help=f"latent vectors to calibrate int8 ranges on (default {CALIBRATION})",
    )


if __name__ == "__main__":
    main("tflite", export_tflite, "generator[_QUANTIZE].tflite", _args)
