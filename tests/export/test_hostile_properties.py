"""Issue 27's harness: property-based tests (Hypothesis) of the runtime's model and sidecar readers, export.sample's
command line and the exporters' overwrite check, asserting the contract: a result or the one documented error (for
a CLI: exit 0, or one `error:` line and exit 2); no traceback; nothing written outside the asked place; no existing
file changed without --force.

The examples are derandomized (the same ones every run), so a pass here is a pass in CI.
"""

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_runtime import tiny_generator, tiny_meta
from treesnap import assert_unchanged, snapshot

import export.onnx  # noqa: F401  (registers the "onnx" kind that check_target is asked about)
from engine.errors import UserError
from export import metadata, sample, target
from export.runtime import Generator, GeneratorFileError

SETTINGS = dict(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """{"onnx": bytes, "tflite": bytes, "meta": dict, "dir": a scratch folder}: the tiny generator's exports."""
    from export.onnx import write_onnx
    from export.tflite import write_tflite

    out = tmp_path_factory.mktemp("property_exports")
    generator, meta = tiny_generator(0), tiny_meta(0)
    onnx_path, tflite_path = (
        write_onnx(generator, meta, out / "g.onnx"),
        write_tflite(generator, meta, out / "g.tflite"),
    )
    return {
        "onnx": onnx_path.read_bytes(),
        "tflite": tflite_path.read_bytes(),
        "meta": metadata.read_sidecar(tflite_path),
        "dir": tmp_path_factory.mktemp("property_scratch"),
    }


def sidecars(meta: dict):
    """Sidecar bytes: arbitrary bytes, arbitrary JSON, the real metadata with one value replaced or one key gone,
    deep nesting, and the real metadata in other encodings."""
    text = json.dumps(meta)
    return st.one_of(
        st.binary(max_size=400),
        JSON.map(lambda v: json.dumps(v).encode()),
        st.tuples(st.sampled_from(sorted(meta)), JSON).map(lambda kv: json.dumps({**meta, kv[0]: kv[1]}).encode()),
        st.sampled_from(sorted(meta)).map(lambda k: json.dumps({x: v for x, v in meta.items() if x != k}).encode()),
        st.integers(1, 200_000).map(lambda n: b"[" * n),
        st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "latin-1"]).map(text.encode),
    )


def mutations(data: bytes):
    """`data` with a few bytes overwritten (most near the start, where the headers are) and maybe cut short."""
    n = len(data)
    positions = st.one_of(st.integers(0, min(n, 4096) - 1), st.integers(0, n - 1))
    return st.tuples(
        st.lists(st.tuples(positions, st.integers(0, 255)), min_size=1, max_size=12),
        st.none() | st.integers(0, n),
    ).map(lambda spec: _mutate(data, *spec))


def _mutate(data: bytes, edits, cut) -> bytes:
    b = bytearray(data)
    for position, value in edits:
        b[position] = value
    return bytes(b[:cut] if cut is not None else b)


def loads_or_refuses(path: Path) -> None:
    """The reader's contract: a Generator, or a GeneratorFileError naming the file; nothing else."""
    try:
        g = Generator.load(path)
    except GeneratorFileError as e:
        assert path.name in str(e), str(e)
        return
    assert g.latent_dim >= 1


@settings(max_examples=150, **SETTINGS)
@given(data=st.data())
def test_sidecar_reader_returns_or_raises_generator_file_error(files, data):
    """Row 15 generalised: any `.tflite.json` beside a good .tflite."""
    path = files["dir"] / "sidecar" / "g.tflite"
    if not path.exists():
        path.parent.mkdir()
        path.write_bytes(files["tflite"])
    metadata.sidecar_path(path).write_bytes(data.draw(sidecars(files["meta"])))
    loads_or_refuses(path)


@settings(max_examples=100, **SETTINGS)
@given(data=st.data())
def test_onnx_reader_returns_or_raises_generator_file_error(files, data):
    """Any .onnx: random bytes, or the good file with bytes overwritten or cut."""
    path = files["dir"] / "onnx" / "g.onnx"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data.draw(st.binary(max_size=300) | mutations(files["onnx"])))
    loads_or_refuses(path)


@settings(max_examples=40, **SETTINGS)
@given(data=st.data())
def test_tflite_reader_returns_or_raises_generator_file_error(files, data):
    """Any .tflite beside a good sidecar: random bytes, or the good file with bytes overwritten or cut."""
    path = files["dir"] / "tflite" / "g.tflite"
    path.parent.mkdir(exist_ok=True)
    metadata.write_sidecar(path, files["meta"])
    path.write_bytes(data.draw(st.binary(max_size=300) | mutations(files["tflite"])))
    loads_or_refuses(path)


@settings(max_examples=60, **SETTINGS)
@given(data=st.data())
def test_sample_cli_keeps_the_contract(files, data, capsys):
    """export.sample on a damaged or good file with options in and out of range: exit 0 or one `error:` line
    with exit 2, no traceback, and nothing written but the asked --out."""
    root = files["dir"] / "cli"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    model = root / "g.onnx"
    model.write_bytes(data.draw(st.just(files["onnx"]) | mutations(files["onnx"])))
    args = [str(model), "--out", str(root / "out" / "grid.png")]
    for flag, values in [
        ("--n", st.integers(-2, 300)),
        ("--scale", st.integers(-1, 80)),
        ("--seed", st.integers(-1, 2**65)),
    ]:
        if data.draw(st.booleans()):
            args += [flag, str(data.draw(values))]
    if data.draw(st.booleans()):
        args += ["--threads", str(data.draw(st.integers(-1, 100)))]
    before = snapshot(root)
    capsys.readouterr()
    code = 0
    try:
        sample.main(args)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 0:
        assert_unchanged(before, snapshot(root), allowed=["out/", "out/grid.png"])
    else:
        assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
        assert_unchanged(before, snapshot(root), allowed=["out/"])


def _place(path: Path, kind: str, files) -> None:
    """Puts something of `kind` at `path`: what a previous export wrote there, or a user's thing."""
    if kind == "dir":
        path.mkdir()
    elif kind == "symlink":
        path.symlink_to(path.parent / "elsewhere.txt")
    elif kind == "text":
        path.write_text("my own notes\n")
    elif kind == "png":
        path.write_bytes(target.PNG_MAGIC + b"a user's picture")
    elif kind == "export":  # what the exporter writes at this place
        suffix = path.name.rsplit(".", 1)[-1]
        content = {
            "onnx": files["onnx"],
            "json": json.dumps(files["meta"]).encode(),
            "md": target.CARD_HEAD + b"g.onnx\n",
            "png": target.PNG_MAGIC,
        }[suffix]
        path.write_bytes(content)


@settings(max_examples=200, **SETTINGS)
@given(
    kinds=st.lists(st.sampled_from([None, "export", "text", "png", "dir", "symlink"]), min_size=4, max_size=4),
    force=st.booleans(),
)
def test_check_target_changes_nothing_and_replaces_only_exports(files, kinds, force):
    """Whatever lies at the four paths an export writes, the overwrite check changes nothing; it lets --force
    through only when each thing there is what a previous export wrote (and the export itself is there), and
    without --force only when none exists."""
    root = files["dir"] / "target"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    (root / "elsewhere.txt").write_text("precious\n")
    out = root / "g.onnx"
    for path, kind in zip(target.outputs(out), kinds, strict=True):
        if kind:
            _place(path, kind, files)
    before = snapshot(root)
    present = [k for k in kinds if k]
    main_is_export = kinds[0] == "export" and kinds[1] == "export"  # an export is known by its sidecar too
    companions_ok = all(k in (None, "export") or (k == "png" and i == 3) for i, k in enumerate(kinds))
    allowed = not present or (force and main_is_export and companions_ok)
    try:
        target.check_target(out, force, "onnx")
        passed = True
    except UserError as e:
        passed = False
        assert "\n" not in str(e)
    assert passed == allowed, (kinds, force)
    assert_unchanged(before, snapshot(root))
