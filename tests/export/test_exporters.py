"""Each export format matches the Keras generator, carries its metadata, and refuses to overwrite."""

import numpy as np
import onnx
import pytest

from engine.errors import UserError
from engine.run import reading as runread
from export import metadata
from export.onnx import export_onnx
from export.savedmodel import export_savedmodel
from export.tflite import export_tflite
from export.verify import check_parity

EXPORTERS = {
    "onnx": (export_onnx, "g.onnx"),
    "tflite": (export_tflite, "g.tflite"),
    "savedmodel": (export_savedmodel, "saved"),
}


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("exported")
    return {fmt: fn(trained_run, out / name) for fmt, (fn, name) in EXPORTERS.items()}


def test_exported_files_match_keras(exported, trained_run):
    """Re-checks parity independently of the exporter's own check, at an odd batch size."""
    import onnxruntime as ort
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    generator, meta, _ = runread.load_generator(trained_run)
    session = ort.InferenceSession(str(exported["onnx"]), providers=["CPUExecutionProvider"])
    runner = Interpreter(model_path=str(exported["tflite"])).get_signature_runner("serving_default")
    signature = tf.saved_model.load(str(exported["savedmodel"])).signatures["serving_default"]
    runs = {
        "onnx": lambda x: session.run(["image"], x)[0],
        "tflite": lambda x: runner(**x)["image"],
        "savedmodel": lambda x: signature(z=tf.constant(x["z"]))["image"].numpy(),
    }
    for fmt, run in runs.items():
        report = check_parity(generator, run, meta, what=fmt, batches=(7,), seed=1)
        assert report["batch_7"]["max_abs_error"] <= 1e-4


def test_parity_draws_the_same_inputs_every_time(exported, trained_run):
    """A file near its budget is accepted or refused the same way on every export (a dynamic-int8 file of a tiny run
    once passed or failed by the draw)."""
    import onnxruntime as ort

    generator, meta, _ = runread.load_generator(trained_run)
    session = ort.InferenceSession(str(exported["onnx"]), providers=["CPUExecutionProvider"])
    seen = []
    run = lambda x: seen.append(x["z"]) or session.run(["image"], x)[0]
    first, second = (check_parity(generator, run, meta, what="onnx", batches=(3,)) for _ in range(2))
    assert first == second and np.array_equal(seen[0], seen[1])
    check_parity(generator, run, meta, what="onnx", batches=(3,), seed=1)
    assert not np.array_equal(seen[0], seen[2])  # a seed asked for is used


def test_metadata_travels_with_each_file(exported, trained_run):
    _, meta, prefix = runread.load_generator(trained_run)
    assert meta["step"] == 4 and meta["latent_dim"] == 100 and meta["output_range"] == [-1.0, 1.0]
    props = {p.key: p.value for p in onnx.load(str(exported["onnx"])).metadata_props}
    described = {**meta, "variant": "float32", "layout": "NHWC", "graph": "optimised"}  # the default export
    assert metadata.from_props(props) == described
    assert metadata.read_sidecar(exported["tflite"]) == described
    assert metadata.read_sidecar(exported["savedmodel"]) == described
    assert meta["checkpoint_sha256"] == runread.checkpoint_sha256(prefix)


def test_onnx_io_names(exported):
    graph = onnx.load(str(exported["onnx"])).graph
    assert [i.name for i in graph.input] == ["z"] and [o.name for o in graph.output] == ["image"]


@pytest.mark.parametrize("fmt", list(EXPORTERS))
def test_refuses_to_overwrite_without_force(fmt, exported, trained_run):
    fn, _ = EXPORTERS[fmt]
    stamp = exported[fmt].stat().st_mtime_ns
    with pytest.raises(UserError, match="exists; pass --force"):
        fn(trained_run, exported[fmt])
    assert exported[fmt].stat().st_mtime_ns == stamp


@pytest.mark.parametrize("fmt", list(EXPORTERS))
def test_force_replaces_a_previous_export_of_the_same_kind(fmt, trained_run, tmp_path):
    fn, name = EXPORTERS[fmt]
    first = fn(trained_run, tmp_path / name)
    stamp = first.stat().st_mtime_ns
    assert fn(trained_run, tmp_path / name, force=True) == first
    assert first.stat().st_mtime_ns != stamp and sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [name, f"{name}.md", f"{name}.png", f"{name}.json"]
    )


def test_parity_failure_names_the_numbers_and_writes_nothing(trained_run):
    generator, meta, _ = runread.load_generator(trained_run)
    off_by = lambda x: np.asarray(generator(x["z"], training=False)) + 1e-3
    with pytest.raises(UserError, match=r"max abs error 0\.001 .* exceeds the budget max abs 0\.0001"):
        check_parity(generator, off_by, meta, what="test")


def test_run_without_checkpoint_cannot_be_exported(tmp_path, trained_run):
    (tmp_path / "config.json").write_text((trained_run / "config.json").read_text())
    with pytest.raises(UserError, match="has no checkpoint yet"):
        export_onnx(tmp_path, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_corrupt_checkpoint_is_a_clear_error(tmp_path, trained_run):
    import shutil

    shutil.copytree(trained_run, tmp_path / "run")
    for data in (tmp_path / "run" / "checkpoints").glob("*.data-*"):
        data.write_bytes(b"\0" * 64)
    with pytest.raises(UserError, match="cannot be restored"):
        export_onnx(tmp_path / "run", tmp_path / "x.onnx")


@pytest.fixture(scope="module")
def acgan_run(tiny_config, tmp_path_factory, data_dir):
    """acgan_mnist trained 2 steps on the Fashion-MNIST-shaped test data (10 classes), with an EMA of G."""
    import tensorflow as tf

    from engine.config import RunOptions
    from engine.run.loop import train

    cfg = tiny_config(
        preset="acgan_mnist", model="acgan_mnist", num_classes=10, update_order="alternating", steps=2, ema_decay=0.5
    )
    run_dir = tmp_path_factory.mktemp("acgan")
    train(cfg, RunOptions(data_dir=str(data_dir)), run_dir, tf.distribute.get_strategy())
    return run_dir


def test_conditional_generator_exports_with_a_label_input(acgan_run, tmp_path):
    from export.runtime import Generator

    onnx_path = export_onnx(acgan_run, tmp_path / "g.onnx")
    tflite_path = export_tflite(acgan_run, tmp_path / "g.tflite")
    saved = export_savedmodel(acgan_run, tmp_path / "saved")
    graph = onnx.load(str(onnx_path)).graph
    assert [i.name for i in graph.input] == ["z", "label"]
    generator, meta, _ = runread.load_generator(acgan_run)
    assert meta["num_classes"] == 10 and meta["class_names"][0] == "T-shirt/top"
    z = np.random.default_rng(0).standard_normal((10, 100)).astype(np.float32)
    labels = np.arange(10, dtype=np.int32)
    want = np.asarray(generator([z, labels], training=False))
    for path in (onnx_path, tflite_path):
        np.testing.assert_allclose(Generator.load(path)(z, labels), want, atol=1e-4)
    import tensorflow as tf

    signature = tf.saved_model.load(str(saved)).signatures["serving_default"]
    np.testing.assert_allclose(signature(z=tf.constant(z), label=tf.constant(labels))["image"].numpy(), want, atol=1e-4)


def test_ema_weights_are_what_gets_exported(acgan_run):
    import tensorflow as tf

    generator, _, prefix = runread.load_generator(acgan_run)
    reader = tf.train.load_checkpoint(prefix)

    def arrays(root):
        return [
            reader.get_tensor(k)
            for k in reader.get_variable_to_shape_map()
            if k.startswith(root + "/") and "OPTIMIZER" not in k and k.endswith("VARIABLE_VALUE")
        ]

    ema, raw = arrays("generator_ema"), arrays("generator")
    kernels = [w.numpy() for w in generator.trainable_variables if len(w.shape) > 1]
    assert ema and all(any(np.array_equal(k, e) for e in ema) for k in kernels)
    assert not all(any(np.array_equal(k, r) for r in raw) for k in kernels)  # EMA differs from raw G after 2 steps


@pytest.mark.parametrize("fmt", list(EXPORTERS))
def test_every_export_has_a_model_card_with_its_facts(fmt, exported, trained_run):
    from PIL import Image

    from export.card import card_paths

    md, png = card_paths(exported[fmt])
    text = md.read_text()
    _, meta, _ = runread.load_generator(trained_run)
    assert f"# Model card: {exported[fmt].name}" in text and f"![64 samples, latent seed 0]({png.name})" in text
    assert "`fashion_mnist`: Fashion-MNIST (Zalando Research" in text and "| preset | `dcgan_fashion`" in text
    optimizer = runread.read_run(trained_run)[0].optimizer  # the preset's, whichever it is
    assert f"{optimizer} (G lr 0.001, D lr 0.001), batch 32, alternating updates" in text
    assert (
        f"| weights | step {meta['step']:,};" in text and "max abs error against the Keras generator: batch 1:" in text
    )
    assert "`z` float32 [batch, 100] drawn from N(0, 1)" in text and "in [-1, 1] (grayscale)" in text
    assert "not evaluated; `python -m engine.evaluate --run-dir" in text and "## Intended use and limits" in text
    assert "T-shirt/top" in text  # the dataset's class names
    with Image.open(png) as grid:
        assert grid.size == (8 * 28 + 9 * 2, 8 * 28 + 9 * 2)


def test_export_into_a_read_only_directory_is_one_line(trained_run, tmp_path):
    """A read-only filesystem (root ignores permission bits, so a read-only tmpfs stands in for them)."""
    import subprocess

    mount = tmp_path / "ro"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M,ro", "tmpfs", str(mount)], capture_output=True)
    if mounted.returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        with pytest.raises(UserError, match=r"cannot write into \S+ro \(Read-only file system\); choose a writable"):
            export_onnx(trained_run, mount / "g.onnx")
    finally:
        subprocess.run(["umount", str(mount)], check=True)
