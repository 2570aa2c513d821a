"""Every numeric variant and layout exports within its parity budget, says what it is, and runs in the runtime."""

import json

import numpy as np
import onnx
import pytest

from engine.errors import UserError
from engine.run import reading as runread
from export import metadata
from export.onnx import OPSETS, export_onnx
from export.runtime import Generator, GeneratorFileError
from export.tflite import export_tflite
from export.verify import Budget, budget_for, check_parity, keras_reference

# name -> (exporter, kwargs, variant, layout)
VARIANTS = {
    "tflite_float16": (export_tflite, {"quantize": "float16"}, "float16", "NHWC"),
    "tflite_dynamic": (export_tflite, {"quantize": "dynamic"}, "dynamic", "NHWC"),
    "tflite_int8": (export_tflite, {"quantize": "int8", "calibration": 32}, "int8", "NHWC"),
    "onnx_fp16": (export_onnx, {"fp16": True}, "float16", "NHWC"),
    "onnx_dynamic": (export_onnx, {"quantize": "dynamic"}, "dynamic", "NHWC"),
    "onnx_nchw": (export_onnx, {"nchw": True}, "float32", "NCHW"),
    "onnx_fp16_nchw_opset13": (export_onnx, {"fp16": True, "nchw": True, "opset": 13}, "float16", "NCHW"),
}


@pytest.fixture(scope="module")
def variants(trained_run, tmp_path_factory):
    """name -> path, each written by its exporter (which raises, writing nothing, when over its budget)."""
    out = tmp_path_factory.mktemp("variants")
    suffix = {export_tflite: ".tflite", export_onnx: ".onnx"}
    return {name: fn(trained_run, out / (name + suffix[fn]), **kwargs) for name, (fn, kwargs, _, _) in VARIANTS.items()}


@pytest.fixture(scope="module")
def keras_generator(trained_run):
    generator, meta, _ = runread.load_generator(trained_run)
    return generator, meta


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_is_within_its_budget_through_the_runtime(name, variants, keras_generator):
    """Re-checks each file independently of its exporter, via the runtime, on 64 other latents."""
    generator, meta = keras_generator
    _, _, variant, layout = VARIANTS[name]
    g = Generator.load(variants[name], threads=1)
    z = g.latents(64, seed=123)
    images = g(z)
    assert images.dtype == np.float32 and images.shape == (64, *g.output_shape)
    err = np.abs(g.to_nhwc(images) - keras_reference(generator, {"z": z}))
    budget = budget_for(variant, meta["output_range"])
    assert err.max() <= budget.max_abs and err.mean() <= (budget.mean_abs or budget.max_abs)
    if variant != "float32":
        assert err.max() > 1e-6  # it really is another variant, not the float32 graph under a new name


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_file_carries_its_metadata_and_the_runtime_reads_it(name, variants, keras_generator):
    _, meta = keras_generator
    _, _, variant, layout = VARIANTS[name]
    path = variants[name]
    if path.suffix == ".onnx":
        stored = metadata.from_props({p.key: p.value for p in onnx.load(str(path)).metadata_props})
    else:
        stored = json.loads(metadata.sidecar_path(path).read_text())
    assert set(stored) == set(metadata.KEYS) | {"variant", "graph"}
    assert stored == {**meta, "variant": variant, "layout": layout, "graph": "optimised"}
    g = Generator.load(path)
    assert (g.variant, g.layout, g.latent_dim, g.output_range) == (variant, layout, 100, (-1.0, 1.0))


def test_quantised_files_are_smaller(variants, trained_run, tmp_path):
    float_size = export_onnx(trained_run, tmp_path / "g.onnx").stat().st_size
    sizes = {name: path.stat().st_size for name, path in variants.items()}
    assert sizes["onnx_fp16"] < 0.55 * float_size and sizes["tflite_float16"] < 0.55 * float_size
    assert sizes["tflite_int8"] < 0.35 * float_size and sizes["onnx_dynamic"] < 0.5 * float_size


def test_nchw_output_is_the_nhwc_output_transposed(variants, trained_run, tmp_path):
    nhwc = Generator.load(export_onnx(trained_run, tmp_path / "g.onnx"))
    nchw = Generator.load(variants["onnx_nchw"])
    graph = onnx.load(str(variants["onnx_nchw"])).graph
    assert [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim[1:]] == [1, 28, 28]
    z = nhwc.latents(5, seed=0)
    a, b = nhwc(z), nchw(z)
    assert b.shape == (5, 1, 28, 28)
    np.testing.assert_allclose(b, a.transpose(0, 3, 1, 2), atol=1e-6)
    np.testing.assert_array_equal(nchw.sample_uint8(5, seed=0), nhwc.sample_uint8(5, seed=0))  # NHWC for viewing
    assert nchw.grid(4, seed=0).shape == nhwc.grid(4, seed=0).shape


@pytest.mark.parametrize("opset", [o for o in OPSETS if o not in (13, 17)])
def test_every_opset_exports(opset, trained_run, tmp_path):
    path = export_onnx(trained_run, tmp_path / "g.onnx", opset=opset)
    assert onnx.load(str(path)).opset_import[0].version == opset


def test_budgets_are_in_output_steps_and_check_the_mean(keras_generator):
    generator, meta = keras_generator
    assert budget_for("float32", (-1, 1)) == Budget(1e-4)
    int8 = metadata.VARIANTS["int8"].lsb_budget
    assert budget_for("int8", (0, 1)).max_abs == pytest.approx(int8[0] / 255)
    assert budget_for("int8", (-1, 1)).mean_abs == pytest.approx(2 * int8[1] / 255)
    with pytest.raises(ValueError, match="no parity budget for variant 'int4'"):
        budget_for("int4", (-1, 1))
    # A constant shift of 5% of the range is under every max bound but over every mean bound.
    shift = 0.05 * 2
    shifted = lambda x: keras_reference(generator, x) + shift
    for variant in [name for name, declared in metadata.VARIANTS.items() if declared.lsb_budget]:
        budget = budget_for(variant, meta["output_range"])
        with pytest.raises(UserError, match=r"exceeds the budget max abs .*, mean abs"):
            check_parity(generator, shifted, meta, what=variant, budget=budget)


def test_bad_options_are_refused_before_any_work(trained_run, tmp_path):
    with pytest.raises(UserError, match="--fp16 and --quantize dynamic are alternatives"):
        export_onnx(trained_run, tmp_path / "g.onnx", fp16=True, quantize="dynamic")
    with pytest.raises(ValueError, match="unknown --quantize 'int4'"):
        export_tflite(trained_run, tmp_path / "g.tflite", quantize="int4")
    assert not list(tmp_path.iterdir())


def test_runtime_refuses_files_with_another_calling_convention(tmp_path, keras_generator):
    """An int8-input ONNX file (not what the exporters write) is refused by name, not fed float32 and crashed."""
    from onnx import TensorProto, helper

    _, meta = keras_generator
    node = helper.make_node("DequantizeLinear", ["z", "scale"], ["image"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("z", TensorProto.INT8, [None, 100])],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, 100])],
        [helper.make_tensor("scale", TensorProto.FLOAT, [], [0.1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    for key, value in metadata.to_props(meta).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(tmp_path / "int8_io.onnx"))
    with pytest.raises(GeneratorFileError, match=r"z is tensor\(int8\); the runtime expects z float32"):
        Generator.load(tmp_path / "int8_io.onnx")


def test_int8_runs_convolutions_in_int8_and_elementwise_ops_in_float(variants):
    """The int8 file's Conv/TransposeConv/FullyConnected take int8 inputs; SELU's and BatchNorm's element-wise ops
    (export.tflite.FLOAT_OPS) stay float32, which is what keeps it within its budget on a trained generator."""
    from ai_edge_litert.interpreter import Interpreter

    from export.tflite import FLOAT_OPS

    interpreter = Interpreter(model_path=str(variants["tflite_int8"]))
    dtypes = {t["index"]: t["dtype"] for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    heavy = [op for op in ops if op["op_name"] in ("CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED")]
    light = [op for op in ops if op["op_name"] in FLOAT_OPS]
    assert heavy and light
    assert all(
        dtypes[op["inputs"][0] if op["op_name"] != "TRANSPOSE_CONV" else op["inputs"][2]] == np.int8 for op in heavy
    )
    assert all(dtypes[i] != np.int8 for op in light for i in [*op["inputs"], *op["outputs"]])
