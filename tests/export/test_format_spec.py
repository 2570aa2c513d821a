"""A new export format is one module: a converter, a parity runner, a Kind and a Format. This one writes the Keras
`.keras` file and gets the whole sequence (target checks, parity, sidecar, card, grid, --force) from export.common."""

import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_runtime import tiny_generator, tiny_meta

from engine.errors import UserError
from export import metadata
from export.common import Format, write_export
from export.target import KINDS, Kind, model_file, outputs, register_kind


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
