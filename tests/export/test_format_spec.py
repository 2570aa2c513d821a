"""A new export format is one module: a converter, a parity runner, a Kind and a Format. One here writes the Keras
`.keras` file and gets the whole sequence (target checks, parity, sidecar, card, grid, --force) from export.common.
A new numeric variant is one declaration (export.metadata.Variant: its name and parity budget) and a format offering
it: the metadata check, the runtime, the parity check and the benchmarks' lists all read it from there."""

import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_runtime import tiny_generator, tiny_meta

from engine.errors import UserError
from export import metadata
from export.common import FORMATS, Format, Offer, register_format, write_export
from export.metadata import Variant, register_variant
from export.onnx import FORMAT as ONNX
from export.target import KINDS, Kind, head, model_file, outputs, register_kind
from export.verify import Budget, budget_for


def _convert(generator, graph, meta, *, scratch: Path, staged: Path) -> bytes:
    path = scratch / "model.keras"
    graph.save(path)
    return path.read_bytes()


def keras_model(model_bytes: bytes):
    import tempfile

    import keras

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.keras"
        path.write_bytes(model_bytes)
        return keras.models.load_model(path)


def _runner(model_bytes: bytes, meta: dict):
    model = keras_model(model_bytes)
    return lambda inputs: np.asarray(model(inputs["z"], training=False))


if "keras_file" not in KINDS:
    register_kind(Kind("keras_file", ".keras", model_file("keras_file", "a Keras archive", zipfile.is_zipfile)))
KERAS_FILE = Format(kind="keras_file", name="Keras", convert=_convert, runner=_runner)


def test_a_format_defined_outside_export_gets_the_whole_sequence(tmp_path):
    generator, meta = tiny_generator(0), tiny_meta(0)
    lines = []
    out = write_export(KERAS_FILE, generator, meta, tmp_path / "g.keras", log=lines.append)
    assert [p.exists() for p in outputs(out)] == [True] * 4  # the file, its sidecar, its card and the card's grid
    assert metadata.read_sidecar(out)["variant"] == "float32"
    assert lines and lines[0].startswith(f"Keras: wrote {out} (verified against Keras, max abs error batch 1: ")
    z = np.random.default_rng(0).standard_normal((3, meta["latent_dim"])).astype("float32")
    np.testing.assert_allclose(keras_model(out.read_bytes())(z), generator(z, training=False), atol=1e-6)

    with pytest.raises(UserError, match="exists; pass --force"):
        write_export(KERAS_FILE, generator, meta, out)
    before = out.stat().st_mtime_ns
    write_export(KERAS_FILE, generator, meta, out, force=True)  # a previous export of this kind: replaced
    assert out.stat().st_mtime_ns >= before
    (tmp_path / "notes.keras").write_text("mine")
    with pytest.raises(UserError, match="is not a file export.keras_file wrote"):
        write_export(KERAS_FILE, generator, meta, tmp_path / "notes.keras", force=True)
    with pytest.raises(UserError, match=r"must end in \.keras"):
        write_export(KERAS_FILE, generator, meta, tmp_path / "g.bin")


# A numeric variant and a format that offers it, declared here, outside export/: ONNX files whose weights are rounded
# to bfloat16 (8 significant bits; stored as float32, so every runtime reads them).
BFLOAT16 = Variant("bfloat16", lsb_budget=(2.0, 0.25))


def bfloat16(weights: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest bfloat16 (ties to even), as float32."""
    bits = np.asarray(weights, np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return rounded.astype(np.uint32).view(np.float32)


def _convert_bfloat16(generator, graph, meta, *, scratch: Path, staged: Path) -> bytes:
    import keras

    from export.onnx import convert

    rounded = keras.models.clone_model(graph)
    rounded.set_weights([bfloat16(w) for w in graph.get_weights()])
    return convert(rounded, meta, graph=rounded).SerializeToString()


def _ort_runner(model_bytes: bytes, meta: dict):
    from export.onnx import ort_runner

    return ort_runner(model_bytes)


ONNX_BF16 = Format(
    kind="onnx_bf16",
    name="ONNX-bf16",
    convert=_convert_bfloat16,
    runner=_ort_runner,
    offers=(Offer("bfloat16"),),
    tensorflow_opens_out=False,
)


@pytest.fixture
def bfloat16_declared():
    """The variant, the format's Kind and the format registered as a module of their own would, then removed."""
    register_variant(BFLOAT16)
    register_kind(Kind("onnx_bf16", ".onnx", model_file("onnx_bf16", "ONNX", lambda p: head(p, 1) != b"")))
    register_format(ONNX_BF16)
    yield
    del metadata.VARIANTS["bfloat16"], KINDS["onnx_bf16"], FORMATS["onnx_bf16"]


def test_a_variant_declared_outside_export_is_validated_checked_and_benchmarked(bfloat16_declared, tmp_path):
    from benchmarks.inference import make_backends, measure, timed_kinds
    from benchmarks.variants import export_variants, variants
    from export.runtime import Generator

    generator, meta = tiny_generator(0), tiny_meta(0)
    # Its budget, declared with it, in output steps: [-1, 1] has 2 / 255 per step.
    assert budget_for("bfloat16", (-1, 1)) == Budget(2.0 * 2 / 255, 0.25 * 2 / 255)
    with pytest.raises(ValueError, match="ONNX offers no variant 'bfloat16'"):
        write_export(ONNX, generator, meta, tmp_path / "no.onnx", variant="bfloat16")

    lines = []
    out = write_export(ONNX_BF16, generator, meta, tmp_path / "g.onnx", variant="bfloat16", log=lines.append)
    assert lines[0].startswith(f"ONNX-bf16: wrote {out} (verified against Keras")
    assert metadata.read_sidecar(out)["variant"] == "bfloat16"
    loaded = Generator.load(out)  # the runtime's metadata check accepts the declared variant
    assert loaded.meta["variant"] == "bfloat16"
    z = np.random.default_rng(0).standard_normal((4, meta["latent_dim"])).astype("float32")
    error = np.abs(loaded(z) - np.asarray(generator(z, training=False)))
    assert 0 < error.max() <= budget_for("bfloat16", meta["output_range"]).max_abs  # rounded, and within budget

    # The benchmarks list it (a runnable .onnx format), export it and time it through the runtime.
    assert variants()["ONNX-bf16 bfloat16"] == (ONNX_BF16, Offer("bfloat16"))
    assert "onnx_bf16" in timed_kinds()
    paths = export_variants(generator, meta, tmp_path, ["ONNX-bf16 bfloat16"])
    assert metadata.read_sidecar(paths["ONNX-bf16 bfloat16"])["variant"] == "bfloat16"
    backends, _ = make_backends(paths, cores=1)
    rows = measure({k: v for k, v in backends.items() if callable(v)}, {1: {"z": z[:1]}}, 1)
    assert rows and all(r["median_ms"] > 0 for r in rows)


def test_an_undeclared_variant_is_refused():
    with pytest.raises(ValueError, match="unknown variant 'bfloat16'"):
        metadata.for_variant(tiny_meta(0), variant="bfloat16")
    with pytest.raises(ValueError, match="no parity budget for variant 'bfloat16'"):
        budget_for("bfloat16", (-1, 1))
    with pytest.raises(ValueError, match="already declared"):
        register_variant(Variant("int8", lsb_budget=(1.0, 0.1)))
