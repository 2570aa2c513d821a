"""Issue 27, second round: exports, the runtime and serving under hostile input. Each test is one row of the issue
(its number in the name's docstring); the commands run in-process through each module's main() where they can.

The contract checked: exit 0, or one `error: <problem>; <fix>` line on stderr with exit status 2 and no traceback;
nothing written outside the asked place; no file that existed changed without --force, and with it only what a
previous export wrote.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_runtime import tiny_generator, tiny_meta
from treesnap import assert_unchanged, snapshot

from engine.errors import UserError, run_cli
from export import common, metadata, sample, serve, target
from export.onnx import _args as onnx_args
from export.onnx import export_onnx, write_onnx
from export.runtime import MAX_SIDECAR_BYTES, Generator, GeneratorFileError, max_threads
from export.savedmodel import export_savedmodel, write_savedmodel
from export.tflite import export_tflite, write_tflite


def onnx_main(argv):
    common.main("onnx", export_onnx, "generator.onnx", onnx_args, argv=argv)


def savedmodel_main(argv):
    common.main("savedmodel", export_savedmodel, "saved_model", argv=argv)


def tflite_main(argv):
    common.main("tflite", export_tflite, "generator.tflite", argv=argv)


def call(main, argv, capsys) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of a CLI's main() run in-process."""
    capsys.readouterr()
    code = 0
    try:
        main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(result, message: str) -> None:
    code, _, err = result
    assert code == 2, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert message in err, err


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """{"onnx", "tflite", "savedmodel"}: exports of the tiny unconditional generator, in a folder of their own."""
    out = tmp_path_factory.mktemp("tiny_exports")
    generator, meta = tiny_generator(0), tiny_meta(0)
    return {
        "onnx": write_onnx(generator, meta, out / "g.onnx"),
        "tflite": write_tflite(generator, meta, out / "g.tflite"),
        "savedmodel": write_savedmodel(generator, meta, out / "sm"),
    }


def copy_export(src: Path, dst_dir: Path) -> Path:
    """A copy of an export with its sidecar, card and grid in `dst_dir`."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    for path in target.outputs(src):
        if path.is_dir():
            shutil.copytree(path, dst_dir / path.name)
        elif path.exists():
            shutil.copy2(path, dst_dir / path.name)
    return dst_dir / src.name


@pytest.fixture
def run_copy(trained_run, tmp_path):
    """A copy of the shared trained run (without any export), for commands that write into a run."""
    run = tmp_path / "run"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("export"))
    return run


def test_treesnap_sees_every_kind_of_change(tmp_path):
    """The helper the contract tests use: a file added, changed (same size), removed, or a symlink retargeted."""
    (tmp_path / "a").write_text("1")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b").write_text("2")
    (tmp_path / "l").symlink_to("a")
    before = snapshot(tmp_path)
    assert_unchanged(before, snapshot(tmp_path))
    (tmp_path / "d" / "b").write_text("3")
    (tmp_path / "new").write_text("")
    (tmp_path / "l").unlink()
    (tmp_path / "l").symlink_to("d")
    with pytest.raises(AssertionError, match="'d/b'.*'l'") as info:
        assert_unchanged(before, snapshot(tmp_path))
    assert "new" in str(info.value)
    assert_unchanged(before, snapshot(tmp_path), allowed=["d/", "new", "l"])


# Row 1: --force replaces only a file this exporter wrote, never a user's file, a checkpoint or a run's config.


@pytest.mark.parametrize(
    "user_file, out, message",
    [
        ("notes.txt", lambda w, run: w / "notes.txt", "notes.txt is not a file export.onnx wrote"),
        ("notes.onnx", lambda w, run: w / "notes.onnx", "notes.onnx is not a file export.onnx wrote"),
        (None, lambda w, run: run / "checkpoints" / "ckpt-4.index", "is inside the checkpoints of the training run"),
        (None, lambda w, run: run / "config.json", "config.json is the config of the training run"),
        (None, lambda w, run: run / "checkpoints" / "x.onnx", "is inside the checkpoints of the training run"),
        (None, lambda w, run: run, "is a training run directory"),
    ],
    ids=["notes.txt", "a text file named .onnx", "a checkpoint", "the config", "into checkpoints", "the run"],
)
def test_force_replaces_no_file_it_did_not_write(trained_run, tmp_path, capsys, user_file, out, message):
    """Row 1: `export.onnx --run-dir RUN --out W/notes.txt --force` and the same aimed at the run itself."""
    w = tmp_path / "W"
    w.mkdir()
    if user_file:
        (w / user_file).write_text("notes\n")
    before, run_before = snapshot(tmp_path), snapshot(trained_run)
    out = out(w, trained_run)
    assert_refused(call(onnx_main, ["--run-dir", trained_run, "--out", out, "--force"], capsys), message)
    assert_unchanged(before, snapshot(tmp_path))
    assert_unchanged(run_before, snapshot(trained_run))


def test_force_on_a_savedmodel_path_in_the_run_is_refused(trained_run, tmp_path, capsys):
    """Row 1 for export.savedmodel, whose --out has no suffix: a checkpoint file and the config (via its sidecar)."""
    before = snapshot(trained_run)
    checkpoint = trained_run / "checkpoints" / "ckpt-4.index"
    assert_refused(
        call(savedmodel_main, ["--run-dir", trained_run, "--out", checkpoint, "--force"], capsys),
        "is inside the checkpoints of the training run",
    )
    assert_refused(
        call(savedmodel_main, ["--run-dir", trained_run, "--out", trained_run / "config", "--force"], capsys),
        "config.json is the config of the training run",
    )
    assert_unchanged(before, snapshot(trained_run))


def test_force_needs_the_format_and_the_sidecar(tiny, tmp_path):
    """Row 1: an ONNX export whose sidecar went, or a .tflite that is not TFLite, is not known to be an export."""
    onnx_copy = copy_export(tiny["onnx"], tmp_path / "a")
    metadata.sidecar_path(onnx_copy).unlink()
    fake = tmp_path / "b" / "g.tflite"
    fake.parent.mkdir()
    fake.write_bytes(b"not a flatbuffer at all")
    (tmp_path / "b" / "g.tflite.json").write_text(json.dumps(metadata.for_variant(tiny_meta(0))))
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match="has no metadata sidecar g.onnx.json beside it"):
        target.check_target(onnx_copy, True, "onnx")
    with pytest.raises(UserError, match="is not a file export.tflite wrote"):
        target.check_target(fake, True, "tflite")
    assert_unchanged(before, snapshot(tmp_path))
    target.check_target(copy_export(tiny["tflite"], tmp_path / "c"), True, "tflite")  # a real one: replaceable


# Row 2: the sidecar, the card and its grid are checked like the main file.


def test_sidecar_and_card_are_never_overwritten_without_force(trained_run, tmp_path, capsys):
    """Row 2: with W/README.onnx.md and W/README.onnx.json present, `--out W/README.onnx` writes nothing, and with
    --force replaces nothing (they are a user's, not an export's)."""
    w = tmp_path / "W"
    w.mkdir()
    (w / "README.onnx.md").write_text("# my notes\n")
    (w / "README.onnx.json").write_text('{"mine": true}\n')
    (w / "D.md").write_text("mine")
    before = snapshot(tmp_path)
    argv = ["--run-dir", trained_run, "--out", w / "README.onnx"]
    assert_refused(call(onnx_main, argv, capsys), "README.onnx.json exists; pass --force to overwrite it and README")
    assert_refused(call(onnx_main, [*argv, "--force"], capsys), "is not beside a previous export")
    assert_refused(call(onnx_main, ["--run-dir", trained_run, "--out", w / "README"], capsys), "must end in .onnx")
    assert_refused(call(savedmodel_main, ["--run-dir", trained_run, "--out", w / "D"], capsys), "D.md exists")
    assert_refused(call(savedmodel_main, ["--run-dir", trained_run, "--out", w / "D", "--force"], capsys), "D.md")
    assert_unchanged(before, snapshot(tmp_path))


@pytest.mark.parametrize("fmt", ["onnx", "tflite", "savedmodel"])
@pytest.mark.parametrize("which", [1, 2, 3], ids=["sidecar", "card", "grid"])
def test_force_refuses_a_user_file_in_place_of_a_companion(tiny, tmp_path, fmt, which):
    """Row 2: beside a real previous export, a companion replaced by a user's text file is not overwritten."""
    out = copy_export(tiny[fmt], tmp_path)
    target.check_target(out, True, fmt)  # as exported: replaceable
    target.outputs(out)[which].write_text("my own notes\n")
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match=r"--force: \S+ (is not an export's|has no metadata sidecar)"):
        target.check_target(out, True, fmt)
    assert_unchanged(before, snapshot(tmp_path))


# Row 3: every file is written new and renamed over; a symlink is never followed.


def test_a_symlinked_card_is_neither_followed_nor_replaced(run_copy, tmp_path, capsys):
    """Row 3: `ln -s ELSEWHERE/notes.txt RUN/export/generator.onnx.md; python -m export.onnx --run-dir RUN`."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "notes.txt").write_text("precious\n")
    (run_copy / "export").mkdir()
    (run_copy / "export" / "generator.onnx.md").symlink_to(elsewhere / "notes.txt")
    before = snapshot(tmp_path)
    assert_refused(call(onnx_main, ["--run-dir", run_copy], capsys), "generator.onnx.md exists; pass --force")
    assert_refused(call(onnx_main, ["--run-dir", run_copy, "--force"], capsys), "is a symbolic link")
    assert_unchanged(before, snapshot(tmp_path))


def test_written_files_replace_a_symlink_instead_of_writing_through_it(tmp_path):
    """Row 3: the writers rename a new file over the path (the link goes, its target stays)."""
    target = tmp_path / "notes.txt"
    target.write_text("precious\n")
    for name in ("g.onnx.json", "g.onnx.md"):
        (tmp_path / name).symlink_to(target)
    metadata.write_sidecar(tmp_path / "g.onnx", metadata.for_variant(tiny_meta(0)))
    metadata.replace_file(tmp_path / "g.onnx.md", b"card")
    assert target.read_text() == "precious\n"
    assert not (tmp_path / "g.onnx.json").is_symlink() and not (tmp_path / "g.onnx.md").is_symlink()
    assert json.loads((tmp_path / "g.onnx.json").read_text())["latent_dim"] == 8


# Row 4: a SavedModel's whole tree is checked before --force replaces it.


@pytest.mark.parametrize(
    "extra",
    ["variables/notes.txt", "assets/mine.txt", "variables/sub/deep.txt", "variables/link"],
    ids=["in variables", "in assets", "nested deeper", "a symlink"],
)
def test_savedmodel_force_checks_the_whole_tree(tiny, tmp_path, extra):
    """Row 4: `export.savedmodel --out D --force` with user files under D/variables or D/assets deletes nothing."""
    out = copy_export(tiny["savedmodel"], tmp_path)
    path = out / extra
    path.parent.mkdir(parents=True, exist_ok=True)
    if extra.endswith("link"):
        path.symlink_to(tmp_path / "sm.md")
    else:
        path.write_text("mine\n")
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match=rf"sm holds files a SavedModel does not \(.*{extra.split('/')[1]}"):
        write_savedmodel(tiny_generator(0), tiny_meta(0), out, force=True)
    assert_unchanged(before, snapshot(tmp_path))


def test_savedmodel_force_replaces_a_previous_one_whole(tiny, tmp_path):
    """Row 4, the other side: a previous SavedModel export is replaced, with its sidecar, card and grid."""
    out = copy_export(tiny["savedmodel"], tmp_path)
    before = snapshot(tmp_path)
    write_savedmodel(tiny_generator(0), tiny_meta(0), out, force=True)
    after = snapshot(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sm", "sm.json", "sm.md", "sm.png"]
    assert after["sm/saved_model.pb"] != before["sm/saved_model.pb"]  # a new file, not the old one kept


# Row 5: two exports to one --out, and what a killed export leaves.


def test_a_path_that_appears_during_an_export_is_not_replaced(tiny, tmp_path):
    """Row 5: publish re-checks each path; without --force one that appeared meanwhile (a second export) wins,
    and none of this export's files is left in place."""
    out = tmp_path / "g.onnx"
    with target.staging_dir(out) as tmp:
        staged = target.staged_path(tmp, out)
        for src, dst in zip(target.outputs(tiny["onnx"]), target.outputs(staged), strict=True):
            shutil.copy2(src, dst)
        (tmp_path / "g.onnx.md").write_text("the other export's card\n")  # it got there first
        before = snapshot(tmp_path)
        with pytest.raises(UserError, match=r"g.onnx.md appeared while this export ran .*--force"):
            target.publish(staged, out, kind="onnx")
        assert_unchanged(before, snapshot(tmp_path))


def test_stale_staging_folders_are_removed_and_others_kept(tmp_path):
    """Row 5: a folder named like this program's staging, whose process is gone, goes at the next export there;
    one of a live process, or any other hidden folder, stays."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".g.onnx.partial-{dead.pid}-abcd1234"
    live = tmp_path / f".g.onnx.partial-{os.getpid()}-abcd1234"
    mine = tmp_path / ".g.onnx.partial-mine"
    for folder in (stale, live, mine):
        folder.mkdir()
        (folder / "g.onnx").write_bytes(b"x")
    assert target.remove_stale_staging(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and mine.exists()


@pytest.mark.slow
def test_an_export_killed_with_sigkill_leaves_nothing_after_the_next_one(run_copy, tmp_path, capsys):
    """Row 5, for real: kill -9 during `export.onnx`; its staging folder stays hidden, is not served, and the next
    export removes it."""
    out = tmp_path / "W" / "g.onnx"
    proc = subprocess.Popen(
        [sys.executable, "-m", "export.onnx", "--run-dir", str(run_copy), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(out.parent.glob(".g.onnx.partial-*")):
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    left = list(out.parent.glob(".g.onnx.partial-*"))
    assert left and not out.exists()
    code, _, err = call(onnx_main, ["--run-dir", run_copy, "--out", out], capsys)
    assert code == 0, err
    assert not list(out.parent.glob(".g.onnx.partial-*")) and out.is_file()


# Rows 10, 14, 16, 26: export.sample's options and outputs.


def sample_main(argv):
    sample.main(argv)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--threads", "5000"], f"--threads must be from 1 to {max_threads()} (4 per CPU core"),
        (["--threads", "0"], "--threads must be from 1 to"),
        (["--n", "10000", "--scale", "64"], "GB of memory (a 64,128 x 64,128 pixel picture of 8x8x1 images)"),
        (["--interpolate", "--steps", "10000", "--scale", "40", "--gif", "OUT/a.gif"], "the limit is 2 GB"),
    ],
    ids=["threads 5000", "threads 0", "n 10000 scale 64", "gif too large"],
)
@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_sample_refuses_sizes_and_threads_before_the_work(tiny, tmp_path, capsys, fmt, args, message):
    """Rows 10, 14, 26: --threads out of range (not blamed on the file), and requests that would not fit in
    memory, are one line naming the limit, before any image is made."""
    args = [a.replace("OUT", str(tmp_path)) for a in args]
    before = snapshot(tmp_path)
    started = time.monotonic()
    assert_refused(call(sample_main, [tiny[fmt], "--out", tmp_path / "grid.png", *args], capsys), message)
    assert time.monotonic() - started < 20
    assert_unchanged(before, snapshot(tmp_path))


def test_runtime_threads_out_of_range_is_not_blamed_on_the_file(tiny):
    """Row 26: Generator.load(threads=0) names the argument, not the .tflite file."""
    for threads in (0, -1, max_threads() + 1, 2.0):
        with pytest.raises(ValueError, match="threads must be an integer from 1 to") as info:
            Generator.load(tiny["tflite"], threads=threads)
        assert not isinstance(info.value, GeneratorFileError)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--out", "/proc/x.png"], "cannot write /proc/x.png"),
        (["--interpolate", "--steps", "3", "--gif", "/proc/a.gif"], "cannot write /proc/a.gif"),
        (["--out", "FILE/x.png"], "is not a directory; choose another --out"),
    ],
    ids=["out in /proc", "gif in /proc", "under a file"],
)
def test_sample_outputs_that_cannot_be_written_are_one_line(tiny, tmp_path, capsys, monkeypatch, args, message):
    """Row 16: no traceback, and with --gif the PNG is not left alone either."""
    (tmp_path / "FILE").write_text("a file")
    monkeypatch.chdir(tmp_path)
    args = [a.replace("FILE", str(tmp_path / "FILE")) for a in args]
    before = snapshot(tmp_path)
    assert_refused(call(sample_main, [tiny["onnx"], *args], capsys), message)
    assert_unchanged(before, snapshot(tmp_path))


def test_sample_into_a_read_only_directory_is_one_line(tiny, tmp_path, capsys):
    """Row 16: `--out RO/x.png` (a read-only tmpfs: root ignores permission bits)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M,ro", "tmpfs", str(ro)], capture_output=True).returncode:
        ro.chmod(0o500)
        if os.access(ro, os.W_OK):
            pytest.skip("cannot make a read-only directory here")
    try:
        assert_refused(call(sample_main, [tiny["onnx"], "--out", ro / "x.png"], capsys), "cannot write into")
    finally:
        subprocess.run(["umount", str(ro)], capture_output=True)
        ro.chmod(0o700)


def test_sample_writes_by_rename_and_keeps_the_mode(tiny, tmp_path, capsys):
    """Row 3 for export.sample: an existing --out that is a symlink is replaced, its target untouched."""
    (tmp_path / "target.png").write_bytes(b"precious")
    (tmp_path / "grid.png").symlink_to(tmp_path / "target.png")
    code, out, err = call(sample_main, [tiny["onnx"], "--n", "4", "--out", tmp_path / "grid.png"], capsys)
    assert code == 0, err
    assert (tmp_path / "target.png").read_bytes() == b"precious" and not (tmp_path / "grid.png").is_symlink()
    assert (tmp_path / "grid.png").stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png", "target.png"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Row 13: names that are not UTF-8.


def test_non_utf8_names_reach_the_card_escaped(run_copy, capsys):
    """Row 13: a run trained from a --data-dir and a class folder with byte \\xff exports whole: the card shows
    the byte as \\xff, nothing is half-written, and the console line prints."""
    config = json.loads((run_copy / "config.json").read_text())
    config["options"]["data_dir"] = "/data/fa\udcffshion"
    config["class_names"][0] = "T\udcffshirt"
    (run_copy / "config.json").write_text(json.dumps(config, indent=2))
    code, out, err = call(onnx_main, ["--run-dir", run_copy], capsys)
    assert code == 0, err
    card = (run_copy / "export" / "generator.onnx.md").read_bytes().decode("utf-8")
    assert "/data/fa\\xffshion" in card and "T\\xffshirt" in card
    assert sorted(p.name for p in (run_copy / "export").iterdir()) == [
        "generator.onnx",
        "generator.onnx.json",
        "generator.onnx.md",
        "generator.onnx.png",
    ]


def test_a_class_name_with_a_newline_or_a_bar_stays_one_cell_of_the_card(run_copy, capsys):
    """Issue 35, row 16: a class folder named with a newline (or a "|") broke the card's table."""
    config = json.loads((run_copy / "config.json").read_text())
    config["class_names"][1] = "Trou\nser|s"
    (run_copy / "config.json").write_text(json.dumps(config, indent=2))
    code, out, err = call(onnx_main, ["--run-dir", run_copy], capsys)
    assert code == 0, err
    card = (run_copy / "export" / "generator.onnx.md").read_text()
    (row,) = [line for line in card.splitlines() if line.startswith("| classes |")]
    assert "T-shirt/top, Trou\\nser\\|s, Pullover" in row and row.endswith("Ankle boot |")


def test_a_run_directory_with_a_non_utf8_name_is_one_line(trained_run, tmp_path, capsys):
    """Row 13: TensorFlow cannot open such a path; the exporter says so instead of a UnicodeEncodeError."""
    run = Path(os.fsdecode(os.fsencode(tmp_path) + b"/r\xff"))
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("export"))
    assert_refused(call(onnx_main, ["--run-dir", run], capsys), "r\\xff has a name that is not UTF-8")
    assert common.printable("a\udcffb") == "a\\xffb"


# Row 15: the runtime's sidecar reader.


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xff\xfe{\x00}\x00", "not UTF-8 text (byte 0xff at offset 0)"),
        (b"[" * 100_000, "not valid JSON (nested too deeply)"),
        (b" " * MAX_SIDECAR_BYTES + b"{}", f"larger than {MAX_SIDECAR_BYTES:,} bytes"),
        (b"\xef\xbb\xbf[]", "metadata must be a JSON object, got list"),  # a BOM is fine, the list is not
    ],
    ids=["utf-16 bom", "deep nesting", "too large", "utf-8 bom"],
)
def test_hostile_sidecars_are_generator_file_errors(tiny, tmp_path, content, message):
    """Row 15: a `.tflite.json` of UTF-16, of 100,000 `[`, or of 1 MiB, is a GeneratorFileError naming it."""
    path = tmp_path / "g.tflite"
    shutil.copy2(tiny["tflite"], path)
    metadata.sidecar_path(path).write_bytes(content)
    with pytest.raises(GeneratorFileError, match="g.tflite.json: ") as info:
        Generator.load(path)
    assert message in str(info.value)


def test_deeply_nested_onnx_metadata_is_a_generator_file_error(tiny, tmp_path):
    """Row 15 for ONNX: metadata_props nested 100,000 deep."""
    import onnx

    model = onnx.load(str(tiny["onnx"]))
    for prop in model.metadata_props:
        if prop.key == "class_names":
            prop.value = "[" * 100_000
    onnx.save(model, str(tmp_path / "g.onnx"))
    with pytest.raises(GeneratorFileError, match=r"metadata_props hold invalid JSON \(maximum recursion"):
        Generator.load(tmp_path / "g.onnx")


# Row 25: LiteRT's INFO line.


def test_litert_info_lines_are_held_back_and_others_passed_on(capfd, monkeypatch):
    """Row 25: what LiteRT prints on file descriptor 2 at its first invoke, under the CLIs' TF_CPP_MIN_LOG_LEVEL."""
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    with common.litert_quiet():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nWARNING: kept\n")
    assert capfd.readouterr().err == "WARNING: kept\n"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")  # --verbose: everything shows
    with common.litert_quiet():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    assert "XNNPACK" in capfd.readouterr().err


@pytest.mark.slow
def test_export_tflite_prints_no_litert_info_line(trained_run, tmp_path):
    """Row 25 end to end (LiteRT prints it once per process, so in a process of its own)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-m", "export.tflite", "--run-dir", str(trained_run), "--out", str(tmp_path / "g.tflite")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "XNNPACK" not in result.stderr and "INFO:" not in result.stderr, result.stderr


def test_int8_export_and_sampling_a_tflite_file_print_only_their_own_lines(trained_run, tmp_path):
    """Issue 35, row 18: `export.tflite --quantize int8` printed TensorFlow's 6-line tf.lite.Interpreter deprecation
    warning and the quantizer's `fully_quantize: ...` lines; `export.sample` on a .tflite, LiteRT's XNNPACK line."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = tmp_path / "g_int8.tflite"
    commands = [
        ["export.tflite", "--run-dir", str(trained_run), "--quantize", "int8", "--out", str(out)],
        ["export.sample", str(out), "--n", "4", "--out", str(tmp_path / "grid.png")],
    ]
    for command in commands:
        result = subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stderr.strip() == "", result.stderr
    assert (tmp_path / "grid.png").is_file()


# Row 26: the exporter refuses a name the runtime would refuse.


@pytest.mark.parametrize("main, out", [(onnx_main, "G.ONNX"), (tflite_main, "g.TFLite"), (onnx_main, "g.tflite")])
def test_export_out_must_have_the_suffix_the_runtime_loads(trained_run, tmp_path, capsys, main, out):
    """Row 26: `--out G.ONNX` was written, then refused by the runtime; now it is refused first."""
    suffix = ".onnx" if main is onnx_main else ".tflite"
    assert_refused(
        call(main, ["--run-dir", trained_run, "--out", tmp_path / out], capsys), f"the file name must end in {suffix}"
    )
    assert not any(tmp_path.iterdir())


# Rows 21 and 27: export.serve.


@pytest.fixture
def served(tmp_path):
    """A running export.serve server on a free port over a fake demo folder; yields (server, port, run)."""
    run, web = tmp_path / "run", tmp_path / "web"
    (run / "export").mkdir(parents=True)
    with open(run / "export" / "generator.onnx", "wb") as f:
        f.truncate(64 << 20)  # large enough that a client leaving early breaks the server's write
    (run / "export" / ".generator.onnx.partial-1-abcd1234").mkdir()
    (run / "export" / ".generator.onnx.partial-1-abcd1234" / "generator.onnx").write_bytes(b"half")
    (web / "node_modules" / "onnxruntime-web").mkdir(parents=True)
    (web / "index.html").write_text("<html></html>")
    server = serve.make_server(run, "127.0.0.1", 0, web=web)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, server.server_port, run
    finally:
        server.shutdown()
        server.server_close()


def request(port: int, raw: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def idle(server, slots: int = serve.MAX_CONNECTIONS, timeout: float = 10) -> None:
    """Waits until no connection holds a slot of `server`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        taken = [server.slots.acquire(blocking=False) for _ in range(slots)]
        for ok in taken:
            if ok:
                server.slots.release()
        if all(taken):
            return
        time.sleep(0.02)
    raise AssertionError("connections still open")


def test_serve_without_the_demo_page_says_it_comes_with_the_checkout(tmp_path):
    """An installed wheel has no examples/web: one line saying where the page comes from (was: install
    onnxruntime-web into a folder inside site-packages that does not exist)."""
    run = tmp_path / "run"
    (run / "export").mkdir(parents=True)
    (run / "export" / "generator.onnx").write_bytes(b"onnx")
    with pytest.raises(UserError, match=r"not with an installed wheel; run python -m export.serve from a checkout$"):
        serve.make_server(run, "127.0.0.1", 0, web=tmp_path / "site-packages" / "examples" / "web")


@pytest.mark.parametrize("port", ["99999", "-1", "70000"])
def test_serve_port_out_of_range_is_one_line(capsys, port):
    """Row 21: `export.serve --port 99999` was an OverflowError traceback."""
    assert_refused(call(lambda argv: run_cli(lambda: serve.main(argv)), ["--port", port], capsys), "is not a port")


def test_serve_answers_odd_paths_and_hides_staging_folders(served, capsys):
    """Row 21: a raw `GET /%00` gets a 404 (was no response and a traceback); Row 5: a staging folder left in
    export/ is not served."""
    server, port, _ = served
    assert request(port, b"GET /%00 HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 404")
    assert request(port, b"GET /model/%2e%00x HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 404")
    hidden = b"GET /model/.generator.onnx.partial-1-abcd1234/generator.onnx HTTP/1.0\r\n\r\n"
    assert request(port, hidden).startswith(b"HTTP/1.0 404")
    assert request(port, b"GET /index.html HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200")
    idle(server)
    assert "Traceback" not in capsys.readouterr().err


def test_serve_client_leaving_early_prints_no_traceback(served, capsys):
    """Rows 21, 27: a client that disconnects mid-download (BrokenPipe / reset) is not an error."""
    server, port, _ = served
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /model/generator.onnx HTTP/1.0\r\n\r\n")
        assert s.recv(1024).startswith(b"HTTP/1.0 200")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # reset, not FIN
        s.close()
    idle(server)
    err = capsys.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err and "reset" not in err.lower(), err


def test_serve_closes_idle_connections_and_bounds_them(served, monkeypatch):
    """Rows 10, 27: an idle connection is closed after the idle timeout; past the limit, a connection gets 503
    instead of a thread."""
    server, port, _ = served
    monkeypatch.setattr(serve.Handler, "timeout", 0.5)
    quiet = socket.create_connection(("127.0.0.1", port), timeout=10)
    started = time.monotonic()
    assert quiet.recv(1024) == b"" and time.monotonic() - started < 5  # closed by the server
    quiet.close()
    idle(server)
    monkeypatch.setattr(serve.Handler, "timeout", 30)
    server.slots = threading.BoundedSemaphore(2)
    held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and server.slots.acquire(blocking=False):  # until both hold a slot
            server.slots.release()
            time.sleep(0.02)
        assert request(port, b"GET /index.html HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 503")
    finally:
        for s in held:
            s.close()
    idle(server, slots=2, timeout=40)
    assert request(port, b"GET /index.html HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200")
