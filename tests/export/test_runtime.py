"""The TensorFlow-free runtime: Keras's images from .onnx and .tflite, exact errors on bad input, no TF import."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from export import metadata
from export.runtime import Generator, GeneratorFileError, GeneratorInputError
from imagegrid import make_grid, to_uint8

LATENT, CLASSES = 8, 3
REPO = Path(__file__).resolve().parents[2]


def tiny_meta(num_classes: int) -> dict:
    return {
        "latent_dim": LATENT,
        "latent_distribution": "normal",
        "latent_range": None,
        "num_classes": num_classes,
        "class_names": [f"c{i}" for i in range(num_classes)],
        "output_range": [-1.0, 1.0],
        "layout": "NHWC",
        "image_shape": [8, 8, 1],
        "preset": "tiny",
        "step": 0,
        "checkpoint_sha256": "0" * 64,
        "engine_version": "test",
    }


def tiny_generator(num_classes: int):
    """latent 8 -> Dense -> [2, 2, 4] -> two Conv2DTranspose to 8x8x1 tanh; conditional: z * Embedding(label) first."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    z = keras.Input((LATENT,), name="z")
    h = z
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        h = layers.Multiply()([z, layers.Embedding(num_classes, LATENT)(label)])
    h = layers.Reshape((2, 2, 4))(layers.Dense(16)(h))
    h = layers.Conv2DTranspose(4, 4, strides=2, padding="same", activation="relu")(h)
    image = layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh")(h)
    return keras.Model([z, label] if num_classes else z, image)


@pytest.fixture(scope="module", params=[0, CLASSES], ids=["unconditional", "conditional"])
def exported(request, tmp_path_factory):
    """(keras generator, meta, {"onnx": path, "tflite": path}) written by the real exporters."""
    from export.onnx import write_onnx
    from export.tflite import write_tflite

    generator, meta = tiny_generator(request.param), tiny_meta(request.param)
    out = tmp_path_factory.mktemp("tiny")
    return (
        generator,
        meta,
        {
            "onnx": write_onnx(generator, meta, out / "g.onnx"),
            "tflite": write_tflite(generator, meta, out / "g.tflite"),
        },
    )


def keras_images(generator, z, labels):
    args = [z, np.asarray(labels, np.int32)] if labels is not None else z
    return np.asarray(generator(args, training=False))


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_runtime_matches_keras_at_several_batch_sizes(exported, fmt):
    generator, meta, paths = exported
    g = Generator.load(paths[fmt], threads=1)
    for batch in (5, 1, 16):  # a changing batch makes LiteRT resize its tensors between calls
        z = g.latents(batch, seed=batch)
        labels = np.arange(batch, dtype=np.int64) % CLASSES if g.num_classes else None  # int64 is accepted
        images = g(z, labels)
        assert images.dtype == np.float32 and images.shape == (batch, 8, 8, 1)
        np.testing.assert_allclose(images, keras_images(generator, z, labels), atol=1e-4)


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_attributes_come_from_the_metadata(exported, fmt):
    _, meta, paths = exported
    g = Generator.load(paths[fmt])
    assert g.meta == {**meta, "variant": "float32", "graph": g.graph} and (g.layout, g.variant) == ("NHWC", "float32")
    assert g.graph in metadata.GRAPHS
    assert (g.latent_dim, g.num_classes, g.output_range, g.image_shape) == (
        LATENT,
        meta["num_classes"],
        (-1.0, 1.0),
        (8, 8, 1),
    )
    assert g.backend == ("onnxruntime[CPUExecutionProvider]" if fmt == "onnx" else "litert")


def bad_calls(num_classes: int) -> list:
    """(args, the exact message) for each way a call can miss the signature."""
    ok = np.zeros((2, LATENT), np.float32)
    z_want = f"z must be float32 [batch, {LATENT}], got"
    calls = [
        ((np.zeros((4, LATENT)),), f"{z_want} float64 [4, {LATENT}]"),  # not cast silently
        ((np.zeros((2, LATENT)).tolist(),), f"{z_want} float64 [2, {LATENT}]"),
        ((np.zeros((2, LATENT), np.int32),), f"{z_want} int32 [2, {LATENT}]"),
        ((np.zeros((2, LATENT + 1), np.float32),), f"{z_want} float32 [2, {LATENT + 1}]"),
        ((np.zeros((LATENT,), np.float32),), f"{z_want} float32 [{LATENT}]"),
        ((np.zeros((2, LATENT, 1), np.float32),), f"{z_want} float32 [2, {LATENT}, 1]"),
        ((np.zeros((0, LATENT), np.float32),), f"{z_want} float32 [0, {LATENT}] (batch must be >= 1)"),
    ]
    if not num_classes:
        return calls + [
            (
                (ok, np.array([0, 1])),
                f"this generator is unconditional: call it with z float32 [batch, {LATENT}] and no labels",
            )
        ]
    want = f"labels must be integer [2] (one per row of z) in [0, {CLASSES})"
    return calls + [
        ((ok,), f"{want} for this conditional generator, got None"),
        ((ok, np.array([0.0, 1.0])), f"{want}, got float64 [2]"),
        ((ok, np.array([True, False])), f"{want}, got bool [2]"),
        ((ok, np.array([0, 1, 2])), f"{want}, got int64 [3]"),
        ((ok, np.array([[0, 1]])), f"{want}, got int64 [1, 2]"),
        ((ok, np.array([0, CLASSES])), f"{want}, got values from 0 to {CLASSES}"),
        ((ok, np.array([-1, 0], np.int32)), f"{want}, got values from -1 to 0"),
    ]


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_bad_inputs_raise_with_the_expected_signature(exported, fmt):
    g = Generator.load(exported[2][fmt])
    for args, message in bad_calls(g.num_classes):
        with pytest.raises(GeneratorInputError) as info:
            g(*args)
        assert str(info.value) == message
        assert isinstance(info.value, ValueError)


def test_sample_is_seeded_and_cycles_labels(exported):
    generator, _, paths = exported
    g = Generator.load(paths["onnx"])
    np.testing.assert_array_equal(g.sample(4, seed=1), g.sample(4, seed=1))
    assert not np.array_equal(g.sample(4, seed=1), g.sample(4, seed=2))
    z = g.latents(4, seed=1)
    cycled = [0, 1, 2, 0] if g.num_classes else None
    np.testing.assert_allclose(g.sample(4, seed=1), keras_images(generator, z, cycled), atol=1e-4)
    if g.num_classes:
        np.testing.assert_array_equal(g.sample(4, seed=1, labels=2), g(z, np.full(4, 2)))
    with pytest.raises(GeneratorInputError, match="n must be an integer >= 1, got 0"):
        g.sample(0)


def test_grid_tiles_the_uint8_samples(exported):
    g = Generator.load(exported[2]["onnx"])
    grid = g.grid(4, seed=1)
    cols = CLASSES if g.num_classes else 2  # conditional: one class per column
    assert grid.shape == (2 * 10 + 2, cols * 10 + 2, 1)
    np.testing.assert_array_equal(grid, make_grid(to_uint8(g.sample(4, seed=1), (-1, 1)), cols=cols))
    np.testing.assert_array_equal(g.sample_uint8(4, seed=1), to_uint8(g.sample(4, seed=1), (-1, 1)))


def test_grid_image_is_the_grid_as_a_pil_image_enlarged(exported):
    g = Generator.load(exported[2]["onnx"])
    image = g.grid_image(4, seed=1, scale=3)
    grid = g.grid(4, seed=1)
    assert image.mode == "L" and image.size == (grid.shape[1] * 3, grid.shape[0] * 3)
    np.testing.assert_array_equal(np.asarray(image)[::3, ::3], grid[..., 0])
    assert image._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"  # what Jupyter shows


def test_latents_follow_the_metadata_distribution():
    meta = {**tiny_meta(0), "latent_distribution": "uniform", "latent_range": [2.0, 3.0]}
    uniform = Generator(None, meta, path=Path("fake.onnx"), backend="none").latents(4000, seed=0)
    assert uniform.dtype == np.float32 and uniform.shape == (4000, LATENT)
    assert uniform.min() >= 2.0 and uniform.max() < 3.0 and uniform.mean() == pytest.approx(2.5, abs=0.02)
    normal = Generator(None, tiny_meta(0), path=Path("fake.onnx"), backend="none").latents(4000, seed=0)
    assert normal.mean() == pytest.approx(0.0, abs=0.02) and normal.std() == pytest.approx(1.0, abs=0.02)


def test_refuses_savedmodels_and_other_files(tmp_path):
    (tmp_path / "saved_model").mkdir()
    (tmp_path / "saved_model" / "saved_model.pb").write_bytes(b"")
    for path in (tmp_path / "saved_model", tmp_path / "g.pb", tmp_path / "g.keras"):
        with pytest.raises(GeneratorFileError, match="loads only .onnx and .tflite files. A SavedModel is TensorFlow"):
            Generator.load(path)
    with pytest.raises(GeneratorFileError, match="nope.onnx: no such file"):
        Generator.load(tmp_path / "nope.onnx")


def copy_tflite(exported, tmp_path, sidecar: str | None) -> Path:
    """A copy of the exported .tflite with the given sidecar text (None: no sidecar)."""
    path = tmp_path / "copy.tflite"
    path.write_bytes(exported[2]["tflite"].read_bytes())
    if sidecar is not None:
        metadata.sidecar_path(path).write_text(sidecar)
    return path


def test_tflite_metadata_problems_name_the_file(exported, tmp_path):
    meta = exported[1]
    cases = [
        (None, "copy.tflite: its metadata file copy.tflite.json is missing"),
        ("{not json", r"copy.tflite.json: not valid JSON"),
        (
            json.dumps({k: v for k, v in meta.items() if k != "step"}),
            r"copy.tflite.json: no valid generator metadata \(generator metadata: missing keys \['step'\]",
        ),
        (json.dumps({**meta, "output_range": [1, -1]}), r"copy.tflite.json: invalid generator metadata: output_range"),
        (
            json.dumps({**meta, "latent_dim": LATENT + 1}),
            rf"input z is \[\?, {LATENT}\] but its metadata says \[batch, {LATENT + 1}\]",
        ),
        (json.dumps({**meta, "num_classes": 0 if meta["num_classes"] else 5}), "do not match its metadata"),
    ]
    for sidecar, message in cases:
        with pytest.raises(GeneratorFileError, match=message):
            Generator.load(copy_tflite(exported, tmp_path, sidecar))


def test_onnx_without_metadata_and_garbage_files_are_refused(exported, tmp_path):
    import onnx

    model = onnx.load(str(exported[2]["onnx"]))
    del model.metadata_props[:]
    onnx.save(model, str(tmp_path / "bare.onnx"))
    with pytest.raises(GeneratorFileError, match=r"bare.onnx: no valid generator metadata \(.*missing keys"):
        Generator.load(tmp_path / "bare.onnx")
    garbage = copy_tflite(exported, tmp_path, json.dumps(exported[1]))
    garbage.write_bytes(b"not a flatbuffer" * 8)
    with pytest.raises(GeneratorFileError, match="copy.tflite: LiteRT cannot load it"):
        Generator.load(garbage)
    with pytest.raises(ValueError, match="providers= applies to .onnx files only"):
        Generator.load(exported[2]["tflite"], providers=["CPUExecutionProvider"])


def test_runtime_never_imports_tensorflow(exported, tmp_path):
    paths = exported[2]
    code = (
        "import sys\n"
        "from imagegrid import save_png\n"
        "from export.runtime import Generator\n"
        f"for p in ({str(paths['onnx'])!r}, {str(paths['tflite'])!r}):\n"
        "    g = Generator.load(p)\n"
        "    assert g.sample(3, seed=0).shape == (3, 8, 8, 1)\n"
        f"    save_png(g.grid(4, seed=0), {str(tmp_path)!r} + '/' + g.backend[:4] + '.png')\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf2onnx', 'engine')]\n"
        "assert not loaded, loaded\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["lite.png", "onnx.png"]


def test_sample_runs_in_chunks_on_the_stream_latents_draws(exported, monkeypatch):
    import export.runtime as runtime

    g = Generator.load(exported[2]["onnx"])
    whole = g.sample(7, seed=3)
    monkeypatch.setattr(runtime, "SAMPLE_CHUNK", 3)
    calls = []
    run = g._run
    g._run = lambda feeds: calls.append(len(feeds["z"])) or run(feeds)
    np.testing.assert_array_equal(g.sample(7, seed=3), whole)
    assert calls == [3, 3, 1]
    np.testing.assert_array_equal(g(g.latents(7, seed=3), [0, 1, 2, 0, 1, 2, 0] if g.num_classes else None), whole)


def test_non_finite_latents_are_refused(exported):
    g = Generator.load(exported[2]["onnx"])
    z = g.latents(2, seed=0)
    z[1, 3] = np.nan
    with pytest.raises(GeneratorInputError, match="z holds 1 NaN or infinite values"):
        g(z, [0, 1] if g.num_classes else None)


def external_data_model(tmp_path: Path, location: str) -> Path:
    """A valid generator file whose one initializer points at external data `location`."""
    from onnx import TensorProto, helper

    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[LATENT])
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value=location)
    node = helper.make_node("Mul", ["z", "w"], ["image"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [None, LATENT])],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, LATENT])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "evil.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize("location", ["../../../../etc/passwd", "/etc/passwd", "weights.bin"])
def test_models_with_external_data_are_refused_before_onnxruntime_reads_them(tmp_path, location, monkeypatch):
    import onnxruntime

    (tmp_path / "weights.bin").symlink_to("/etc/passwd")
    path = external_data_model(tmp_path, location)
    monkeypatch.setattr(onnxruntime, "InferenceSession", lambda *a, **k: pytest.fail("onnxruntime was called"))
    with pytest.raises(GeneratorFileError, match="initializer 'w' keeps its data in another file"):
        Generator.load(path)


def test_the_scan_finds_external_data_in_subgraphs(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from export.runtime import external_data_tensors

    inner = onnx.load_from_string(external_data_model(tmp_path, "x.bin").read_bytes()).graph
    cond = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    node = helper.make_node("If", ["c"], ["image"], then_branch=inner, else_branch=inner)
    graph = helper.make_graph(
        [node], "outer", [cond], [helper.make_tensor_value_info("image", TensorProto.FLOAT, None)]
    )
    data = helper.make_model(graph).SerializeToString()
    assert external_data_tensors(data, "m") == ["w", "w"]
    assert external_data_tensors(helper.make_model(helper.make_graph([], "e", [], [])).SerializeToString(), "m") == []


@pytest.mark.parametrize("content", [b"", b"\xff\xfe garbage" * 9, b"\x0a\x05abc"], ids=["empty", "garbage", "cut"])
def test_bad_onnx_files_are_generator_file_errors(tmp_path, content):
    path = tmp_path / "g.onnx"
    path.write_bytes(content)
    with pytest.raises(GeneratorFileError, match=r"g.onnx: (not an ONNX model|onnxruntime cannot load it|no valid)"):
        Generator.load(path)


def test_session_settings_reach_onnxruntime_and_leave_the_images_alone(exported):
    import onnxruntime as ort

    from export.runtime import OPTIMIZATION, SPINNING, session_options

    generator, _, paths = exported
    options = session_options(threads=2, spinning=True, optimization="basic")
    assert options.intra_op_num_threads == 2
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    default = session_options()
    assert default.get_session_config_entry("session.intra_op.allow_spinning") == ("1" if SPINNING else "0")
    assert default.graph_optimization_level == getattr(ort.GraphOptimizationLevel, "ORT_ENABLE_" + OPTIMIZATION.upper())
    reference = Generator.load(paths["onnx"], threads=1)
    z = reference.latents(4, seed=0)
    labels = [0, 1, 2, 0] if reference.num_classes else None
    for spinning in (True, False):
        for optimization in ("all", "disabled"):
            g = Generator.load(paths["onnx"], threads=2, spinning=spinning, optimization=optimization)
            assert np.abs(g(z, labels) - reference(z, labels)).max() <= 1e-5
    with pytest.raises(ValueError, match="unknown optimization 'max'"):
        Generator.load(paths["onnx"], optimization="max")
