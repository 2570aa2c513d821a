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

import warnings
from pathlib import Path

import numpy as np

from engine.errors import UserError
from export.common import Command, Format, Offer, export_run, litert_quiet, register_format, write_export
from export.savedmodel import save_archive
from export.target import Kind, head, model_file, register_kind
from export.verify import CALIBRATION_BATCH, representative_inputs

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
        # The debugger builds a tf.lite.Interpreter (a 6-line deprecation warning) and the quantizer prints
        # "fully_quantize: ..." lines on fd 2: neither is the user's concern, and LiteRT verifies the file after.
        with warnings.catch_warnings(), litert_quiet(b"fully_quantize: "):
            warnings.filterwarnings("ignore", message=r"\s*Warning: tf.lite.Interpreter is deprecated")
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter,
                debug_dataset=representative_inputs(meta, CALIBRATION_BATCH),
                debug_options=options,
            )
            return debugger.get_nondebug_quantized_model()
    return converter.convert()


def _convert_file(generator, graph, meta: dict, *, scratch: Path, staged: Path, quantize: str, calibration: int):
    """The file's bytes: `graph` saved by Keras's ExportArchive, then converted in the `quantize` variant."""
    saved = scratch / "saved_model"
    save_archive(graph, meta, saved)
    return convert(saved, meta, quantize, calibration)


KIND = register_kind(Kind("tflite", ".tflite", model_file("tflite", "TFLite", lambda p: head(p, 8)[4:8] == b"TFL3")))
FORMAT = register_format(
    Format(
        kind="tflite",
        name="TFLite",
        convert=_convert_file,
        runner=lambda model_bytes, meta: litert_runner(model_bytes),
        offers=tuple(Offer(v, options={"quantize": q, "calibration": CALIBRATION}) for q, v in QUANTIZE.items()),
        quiet=litert_quiet,  # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate" at its first invoke
    )
)


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
    """Writes a verified .tflite file at `path`, its metadata sidecar and its model card
    (export.common.write_export: `plain`, `force`, `log`, `run_dir`).

    Raises:
      UserError: as write_export.
      ValueError: an unknown quantize, or calibration below 1.
    """
    if quantize not in QUANTIZE:
        raise ValueError(f"unknown --quantize {quantize!r} (valid: {', '.join(QUANTIZE)})")
    if calibration < 1:
        raise ValueError(f"calibration needs at least 1 latent vector, got {calibration}")
    return write_export(
        FORMAT,
        generator,
        meta,
        path,
        variant=QUANTIZE[quantize],
        options={"quantize": quantize, "calibration": calibration},
        plain=plain,
        force=force,
        log=log,
        run_dir=run_dir,
    )


def export_tflite(run_dir=None, out=None, *, force: bool = False, verbose: bool = False, **options) -> Path:
    """Exports a run (default runs/latest) to `out` (default <run>/export/generator[_Q].tflite); `options` are
    write_tflite's (quantize, calibration, plain).

    Takes the run's best checkpoint by FID when it kept one, else its newest, and says which.
    """
    calibration = options.get("calibration", CALIBRATION)
    if calibration < 1:
        raise UserError(f"--calibration must be >= 1, got {calibration}")
    name = default_name(options.get("quantize", "none"))
    return export_run(FORMAT, write_tflite, run_dir, out, name, force=force, verbose=verbose, **options)


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


COMMAND = Command("tflite", export_tflite, "generator[_QUANTIZE].tflite", _args)

if __name__ == "__main__":
    COMMAND.main()
