"""Generator -> ONNX (tf2onnx) with inputs `z` (and `label`), output `image`, metadata in `metadata_props`.

Usage: python -m export.onnx [--run-dir DIR] [--out PATH] [--force] [--opset 17]
"""

from pathlib import Path

import numpy as np

from engine.errors import UserError
from export import metadata
from export.common import exportable, input_signature, load_for_export, main, publish, parity_line, staging_dir
from export.verify import check_parity

DEFAULT_NAME = "generator.onnx"
OPSETS = (17, 18)  # what tf2onnx 1.17 was measured to produce and verify here; 19+ is refused by tf2onnx


def _rename_output(model, new: str) -> None:
    """Renames the graph's single output tensor everywhere it appears (tf2onnx names it after the Keras tensor)."""
    old = model.graph.output[0].name
    if old == new:
        return
    for node in model.graph.node:
        node.output[:] = [new if o == old else o for o in node.output]
        node.input[:] = [new if i == old else i for i in node.input]
    model.graph.output[0].name = new


def convert(generator, meta: dict, opset: int = 17):
    """The generator as an onnx.ModelProto with named I/O and metadata (not yet verified)."""
    import tf2onnx

    if opset not in OPSETS:
        raise ValueError(f"opset {opset} is not supported (valid: {', '.join(map(str, OPSETS))})")
    model, _ = tf2onnx.convert.from_keras(exportable(generator), input_signature=input_signature(meta), opset=opset)
    _rename_output(model, "image")
    for key, value in metadata.to_props(meta).items():
        model.metadata_props.add(key=key, value=value)
    return model


def ort_runner(model_bytes: bytes):
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types (Fail, InvalidGraph, ...)
        raise UserError(f"ONNX: onnxruntime cannot load the converted generator "
                        f"({str(e).strip().splitlines()[0][:300]}); nothing was written") from None
    return lambda inputs: np.asarray(session.run(["image"], inputs)[0])


def write_onnx(generator, meta: dict, path, opset: int = 17, *, log=None) -> Path:
    """Writes a verified .onnx file at `path`; raises UserError (nothing written) if it disagrees with Keras."""
    path = Path(path)
    model_bytes = convert(generator, meta, opset).SerializeToString()
    parity = check_parity(generator, ort_runner(model_bytes), meta, what="ONNX")
    with staging_dir(path) as tmp:
        staged = Path(tmp) / path.name
        staged.write_bytes(model_bytes)
        publish(staged, path)
    if log:
        log(parity_line("ONNX", path, parity))
    return path


def export_onnx(run_dir=None, out=None, *, force: bool = False, opset: int = 17, verbose: bool = False) -> Path:
    """Exports a run's newest checkpoint (default runs/latest) to `out` (default <run>/export/generator.onnx)."""
    generator, meta, prefix, out = load_for_export(run_dir, out, DEFAULT_NAME, force)
    if verbose:
        print(f"exporting {Path(prefix).name} (step {meta['step']}) of {Path(prefix).parent.parent}")
    return write_onnx(generator, meta, out, opset, log=print if verbose else None)


def _args(parser) -> None:
    parser.add_argument("--opset", type=int, default=17, choices=OPSETS, help="ONNX opset (default 17)")


if __name__ == "__main__":
    main("onnx", export_onnx, DEFAULT_NAME, _args)
