"""Generator -> ONNX (tf2onnx) with inputs `z` (and `label`), output `image`, metadata in `metadata_props`.

Usage: python -m export.onnx [--run-dir DIR] [--out PATH] [--force] [--opset 13..18] [--fp16] [--nchw]
                             [--quantize none|dynamic] [--plain]

The file holds the optimised graph (export.optimise: stride-2 ConvTransposes as four phase convolutions, BatchNorm
folded into its neighbours), exact to float rounding and checked against the Keras generator; --plain converts the
generator's own layers instead.

--fp16 stores weights and computes in float16 (onnxruntime's converter, keep_io_types) while `z` and `image`
stay float32. --nchw makes `image` [batch, C, H, W] (one Transpose at the end, which onnxruntime cancels against
tf2onnx's own; metadata `layout` says "NCHW"). --quantize dynamic is onnxruntime's dynamic quantisation: int8
weights for MatMul (the Dense layer, most of the parameters) with activations quantised per call; ConvTranspose stays
float32 because onnxruntime's quantiser has no quantised ConvTranspose for its CPU kernels. Static (calibrated)
onnxruntime quantisation is not offered: see `quantize_static_qdq` and README "Variants" for why.
"""

from pathlib import Path

import numpy as np

from engine.errors import UserError
from export import metadata
from export.common import (
    Command,
    Format,
    Offer,
    export_run,
    exportable,
    input_signature,
    register_format,
    write_export,
)
from export.target import Kind, model_file, register_kind

DEFAULT_NAME = "generator.onnx"
OPSETS = tuple(range(13, 19))  # each converts and verifies here; tf2onnx 1.17 refuses 19+
DEFAULT_OPSET = 17
QUANTIZE = ("none", "dynamic")


def default_name(*, fp16: bool = False, nchw: bool = False, quantize: str = "none") -> str:
    parts = ["fp16"] * fp16 + ["dynamic"] * (quantize == "dynamic") + ["nchw"] * nchw
    return "_".join(["generator", *parts]) + ".onnx"


def _rename_output(model, new: str) -> None:
    """Renames the graph's single output tensor everywhere it appears (tf2onnx names it after the Keras tensor)."""
    old = model.graph.output[0].name
    if old == new:
        return
    for node in model.graph.node:
        node.output[:] = [new if o == old else o for o in node.output]
        node.input[:] = [new if i == old else i for i in node.input]
    model.graph.output[0].name = new


def _transpose_output(model, nhwc_name: str) -> None:
    """Appends a Transpose NHWC -> NCHW after the output; onnxruntime folds it into tf2onnx's own transposes."""
    from onnx import helper

    _rename_output(model, nhwc_name)
    model.graph.node.append(helper.make_node("Transpose", [nhwc_name], ["image"], perm=[0, 3, 1, 2]))
    out = model.graph.output[0]
    dims = list(out.type.tensor_type.shape.dim)
    out.name = "image"
    if len(dims) == 4:  # permute the declared shape too, so consumers see [batch, C, H, W]
        shape = [type(d)() for d in dims]
        for d, src in zip(shape, (dims[0], dims[3], dims[1], dims[2]), strict=False):
            d.CopyFrom(src)
        del out.type.tensor_type.shape.dim[:]
        out.type.tensor_type.shape.dim.extend(shape)


def _only_integer_upsampling(generator) -> bool:
    """Whether every resize in the generator is a nearest UpSampling2D (integer factors by construction)."""
    import keras

    layers = generator.layers
    return (
        any(isinstance(layer, keras.layers.UpSampling2D) for layer in layers)
        and not any(isinstance(layer, keras.layers.Resizing) for layer in layers)
        and all(layer.interpolation == "nearest" for layer in layers if isinstance(layer, keras.layers.UpSampling2D))
    )


def _asymmetric_nearest(model) -> None:
    """Rewrites tf2onnx's nearest Resize nodes from `tf_half_pixel_for_nn` to `asymmetric` + `floor`.

    onnxruntime warns about the deprecated `tf_half_pixel_for_nn` at every load, and other ONNX runtimes may reject
    it. For an integer factor s both map output pixel i to input pixel floor(i / s) ((i + 0.5) / s never crosses the
    next integer), so the pixels are the same; the parity check against Keras confirms it for every export.
    """
    from onnx import helper

    for node in model.graph.node:
        attrs = {a.name: a for a in node.attribute}
        mode = attrs.get("coordinate_transformation_mode")
        if node.op_type != "Resize" or mode is None or helper.get_attribute_value(mode) != b"tf_half_pixel_for_nn":
            continue
        if helper.get_attribute_value(attrs["mode"]) != b"nearest" if "mode" in attrs else True:
            continue
        kept = [a for a in node.attribute if a.name not in ("coordinate_transformation_mode", "nearest_mode")]
        del node.attribute[:]
        node.attribute.extend(
            kept
            + [
                helper.make_attribute("coordinate_transformation_mode", "asymmetric"),
                helper.make_attribute("nearest_mode", "floor"),
            ]
        )


def set_metadata(model, meta: dict) -> None:
    del model.metadata_props[:]
    for key, value in metadata.to_props(meta).items():
        model.metadata_props.add(key=key, value=value)


def convert(generator, meta: dict, opset: int = DEFAULT_OPSET, *, nchw: bool = False, graph=None):
    """The float32 generator as an onnx.ModelProto with named I/O and metadata (not yet verified).

    Args:
      graph: the Keras model to convert, e.g. `export.optimise.optimise(generator)[0]`; default the generator.
    """
    import tf2onnx

    if opset not in OPSETS:
        raise ValueError(f"opset {opset} is not supported (valid: {OPSETS[0]}..{OPSETS[-1]})")
    onnx_model, _ = tf2onnx.convert.from_keras(
        exportable(generator if graph is None else graph), input_signature=input_signature(meta), opset=opset
    )
    _rename_output(onnx_model, "image")
    if _only_integer_upsampling(generator):
        _asymmetric_nearest(onnx_model)
    if nchw:
        _transpose_output(onnx_model, "image_nhwc")
    set_metadata(onnx_model, meta)
    return onnx_model


def to_fp16(model):
    """float16 weights and arithmetic, float32 `z`/`image` (Cast nodes at the edges); `label` stays int32."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return convert_float_to_float16(model, keep_io_types=True)


def quantize_dynamic(model, tmp: Path):
    """onnxruntime dynamic quantisation (int8 weights, per-call activation ranges) of a ModelProto."""
    import onnx
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as ort_quantize_dynamic

    src, dst = tmp / "float.onnx", tmp / "dynamic.onnx"
    onnx.save(model, str(src))
    ort_quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    return onnx.load(str(dst))


def quantize_static_qdq(model, meta: dict, tmp: Path, calibration: int = 256):
    """onnxruntime static QDQ quantisation, calibrated on random latents. Not offered by the CLI: kept so the
    variant benchmark can re-measure why (benchmarks.variants --with-rejected)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    from export.verify import representative_inputs

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = representative_inputs(meta, calibration)()

        def get_next(self):
            return next(self.batches, None)

    src, dst = tmp / "float.onnx", tmp / "static.onnx"
    onnx.save(model, str(src))
    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ)
    return onnx.load(str(dst))


def ort_runner(model_bytes: bytes, *, nchw: bool = False):
    """`run(inputs) -> image` NHWC (an NCHW output is transposed back for comparison with Keras)."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types (Fail, InvalidGraph, ...)
        raise UserError(
            f"ONNX: onnxruntime cannot load the converted generator "
            f"({str(e).strip().splitlines()[0][:300]}); nothing was written"
        ) from None
    if nchw:
        return lambda inputs: np.asarray(session.run(["image"], inputs)[0]).transpose(0, 2, 3, 1)
    return lambda inputs: np.asarray(session.run(["image"], inputs)[0])


def _convert_file(generator, graph, meta: dict, *, scratch: Path, staged: Path, opset: int) -> bytes:
    """The file's bytes: `graph` converted, in meta's variant and layout, with the metadata set last."""
    model = convert(generator, meta, opset, nchw=meta["layout"] == "NCHW", graph=graph)
    if meta["variant"] == "float16":
        model = to_fp16(model)
    elif meta["variant"] == "dynamic":
        model = quantize_dynamic(model, scratch)
    set_metadata(model, meta)  # the converters may drop or keep them; set them once, last
    return model.SerializeToString()


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


KIND = register_kind(Kind("onnx", ".onnx", model_file("onnx", "ONNX", _is_onnx_export)))
_OPSET = {"opset": DEFAULT_OPSET}
FORMAT = register_format(
    Format(
        kind="onnx",
        tensorflow_opens_out=False,
        name="ONNX",
        convert=_convert_file,
        runner=lambda model_bytes, meta: ort_runner(model_bytes, nchw=meta["layout"] == "NCHW"),
        offers=(
            Offer(options=_OPSET),
            Offer(layout="NCHW", options=_OPSET),
            Offer("float16", options=_OPSET, note="--fp16"),
            Offer("dynamic", options=_OPSET, note="--quantize dynamic"),
        ),
    )
)


def write_onnx(
    generator,
    meta: dict,
    path,
    opset: int = DEFAULT_OPSET,
    *,
    fp16: bool = False,
    nchw: bool = False,
    quantize: str = "none",
    plain: bool = False,
    force: bool = False,
    log=None,
    run_dir=None,
) -> Path:
    """Writes a verified .onnx file at `path`, its metadata sidecar `<path>.json` (onnxruntime-web cannot read
    metadata_props) and its model card beside it (export.common.write_export: `plain`, `force`, `log`, `run_dir`).

    Raises:
      UserError: as write_export.
      ValueError: an unknown opset or quantize, or fp16 with quantize.
    """
    if quantize not in QUANTIZE:
        raise ValueError(f"unknown quantize {quantize!r} (valid: {', '.join(QUANTIZE)})")
    if fp16 and quantize != "none":
        raise ValueError("fp16 and quantize are alternatives: pick one")
    variant = "float16" if fp16 else "dynamic" if quantize == "dynamic" else "float32"
    return write_export(
        FORMAT,
        generator,
        meta,
        path,
        variant=variant,
        layout="NCHW" if nchw else "NHWC",
        options={"opset": opset},
        plain=plain,
        force=force,
        log=log,
        run_dir=run_dir,
    )


def export_onnx(run_dir=None, out=None, *, force: bool = False, verbose: bool = False, **options) -> Path:
    """Exports a run (default runs/latest) to `out` (default <run>/export/generator[_...].onnx); `options` are
    write_onnx's (opset, fp16, nchw, quantize, plain).

    Takes the run's best checkpoint by FID when it kept one, else its newest, and says which.
    """
    fp16, nchw, quantize = options.get("fp16", False), options.get("nchw", False), options.get("quantize", "none")
    if fp16 and quantize != "none":
        raise UserError("--fp16 and --quantize dynamic are alternatives; pass one of them")
    name = default_name(fp16=fp16, nchw=nchw, quantize=quantize)
    return export_run(FORMAT, write_onnx, run_dir, out, name, force=force, verbose=verbose, **options)


def _args(parser) -> None:
    parser.add_argument(
        "--opset", type=int, default=DEFAULT_OPSET, choices=OPSETS, help=f"ONNX opset (default {DEFAULT_OPSET})"
    )
    parser.add_argument("--fp16", action="store_true", help="float16 weights and arithmetic, float32 inputs/outputs")
    parser.add_argument("--nchw", action="store_true", help="image output [batch, C, H, W] instead of NHWC")
    parser.add_argument(
        "--quantize",
        default="none",
        choices=QUANTIZE,
        help="onnxruntime dynamic quantisation (int8 MatMul weights; default none)",
    )


COMMAND = Command("onnx", export_onnx, "generator[_fp16|_dynamic][_nchw].onnx", _args)

if __name__ == "__main__":
    COMMAND.main()
