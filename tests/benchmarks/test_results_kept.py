"""Benchmarks never lose results (issue 35, row 4): unknown names are refused before any work, a result file is
written only when every row asked for was measured, each by rename, and a missing matplotlib is one line with the
tables still written. The benchmarks' command lines run in this process as `python -m` runs them
(tests/commands.py)."""

import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks.machine import check_complete, plot_or_say, save_results
from benchmarks.train_throughput import quick_plan, selected_rows
from engine.errors import UserError
from tests.commands import run_module
from tests.treesnap import assert_unchanged, snapshot

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def benchmark(capsys, monkeypatch):
    """`benchmark("benchmarks.quality", ..., cwd=DIR)`: the command's .returncode, .stdout and .stderr."""

    def run(*argv, cwd):
        monkeypatch.chdir(cwd)
        code, out, err = run_module(argv, capsys, monkeypatch)
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    return run


@pytest.mark.parametrize("presets", ["nope", "", "dcgan_fashion,nope", "folder@x", "nope@32"])
def test_unknown_preset_names_are_one_line_before_any_work_and_results_stay(benchmark, tmp_path, presets):
    out = tmp_path / "results"
    out.mkdir()
    (out / "train_throughput_quick.json").write_text('{"rows": ["measured"]}\n')
    (out / "train_throughput_quick.md").write_text("# measured\n")
    before = snapshot(tmp_path)
    done = benchmark("benchmarks.train_throughput", "--quick", "--presets", presets, "--out", str(out), cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: --presets") and done.stderr.count("\n") == 1, done.stderr
    assert "nothing was measured" in done.stderr and "matmul peak" not in done.stdout
    assert_unchanged(before, snapshot(tmp_path))


def test_named_presets_select_their_rows():
    rows = selected_rows(quick_plan(), "dcgan_fashion,folder@32")
    assert {r.preset for r in rows} == {"dcgan_fashion", "folder@32"}


def test_a_row_that_failed_or_is_missing_writes_nothing():
    check_complete([{"images_per_s": 1.0}], 1)
    with pytest.raises(UserError, match=r"1 of 2 rows were not measured \(first: boom\); no result file was written"):
        check_complete([{"images_per_s": 1.0}, {"error": "boom"}], 2)
    with pytest.raises(UserError, match="2 of 3 rows were not measured"):
        check_complete([{"images_per_s": 1.0}], 3)


def test_results_are_written_by_rename_never_through_a_link(tmp_path):
    target = tmp_path / "elsewhere.md"
    target.write_text("mine\n")
    (tmp_path / "bench.md").symlink_to(target)
    md, js = save_results(tmp_path, "bench", "# table\n", {"rows": [1]})
    assert md.read_text() == "# table\n" and not md.is_symlink() and target.read_text() == "mine\n"
    assert json.loads(js.read_text()) == {"rows": [1]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json", "bench.md", "elsewhere.md"]


def test_a_missing_matplotlib_is_one_line_and_no_plot(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    drawn = []
    assert plot_or_say(lambda *a: drawn.append(a), [], "x.png") is False
    assert not drawn
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "matplotlib is not installed" in err and "tables were written" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (("benchmarks.quality", "--minutes", "abc"), r"^error: --minutes 'abc': expected numbers > 0"),
        (("benchmarks.quality", "--num-samples", "-5"), r"^error: --num-samples '-5': expected a whole number >= 2"),
        (
            ("benchmarks.quality", "--data-dir", ".", "--recipe", 'x=folder "unclosed'),
            r"^error: --recipe .*No closing quotation; quote as a shell would",
        ),
        (("benchmarks.inference", "--onnx", "/etc/passwd"), r"^error: /etc/passwd is not an export this benchmark"),
        (("benchmarks.op_profile", "--batch", "-1"), r"^error: invalid config: batch_size=-1 \(must be > 0\)"),
        (("benchmarks.step_cost", "--variants", "nope"), r"^error: --variants: unknown variant 'nope'"),
        (("benchmarks.step_cost", "--batches", "x"), r"^error: --batches 'x': expected whole numbers >= 1"),
    ],
    ids=[
        "quality-minutes",
        "quality-samples",
        "quality-recipe",
        "inference-onnx",
        "op_profile-batch",
        "step_cost-variants",
        "step_cost-batches",
    ],
)
def test_benchmark_arguments_are_one_line_before_any_work(benchmark, tmp_path, argv, message):
    done = benchmark(*argv, cwd=tmp_path)  # the default --out, benchmarks/results, would be under tmp_path
    lines = [x for x in done.stderr.splitlines() if x.strip() and not x.startswith(("To enable", "WARNING", "I0000"))]
    assert done.returncode in (1, 2) and "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1 and re.search(message, lines[0]), done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "the benchmark wrote something"


def test_step_cost_takes_its_own_default_list_whose_names_hold_commas():
    from benchmarks.step_cost import VARIANTS, parse_variants

    assert parse_variants(",".join(VARIANTS)) == list(VARIANTS)
    assert parse_variants("Keras fit, keras-io networks,engine") == ["Keras fit, keras-io networks", "engine"]
    assert parse_variants("Keras fit") == ["Keras fit"]


def test_the_precision_comparison_refuses_unknown_presets_before_any_work(tmp_path):
    from benchmarks.precision_compare import compare_plan, run, selected

    assert {r.preset for r in selected(compare_plan(True), "dcgan_fashion")} == {"dcgan_fashion"}
    with pytest.raises(UserError, match=r"--presets 'nope': 'nope' is not a preset of this comparison"):
        run(["float32", "mixed_bfloat16"], True, "nope", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag", ["--work-dir", "--out"])
def test_a_file_where_a_benchmark_folder_goes_is_one_line_before_any_training(benchmark, tmp_path, flag):
    """Found by the argument harness: `benchmarks.quality --work-dir notes.txt` (a file) was a FileExistsError
    traceback; `--out` a file failed only after every recipe had trained."""
    (tmp_path / "notes.txt").write_text("mine")
    done = benchmark("benchmarks.quality", flag, "notes.txt", cwd=tmp_path)
    lines = [x for x in done.stderr.splitlines() if x.strip() and not x.startswith(("To enable", "WARNING", "I0000"))]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1 and lines[0].startswith(f"error: {flag} notes.txt: a file is in the way"), done.stderr
    made_first = ["runs"] if flag == "--out" else []  # the work dir (empty) is made before --out is looked at
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", *made_first], "it wrote something"
    assert not any(p.is_file() for p in tmp_path.rglob("*") if p.name != "notes.txt")
    assert (tmp_path / "notes.txt").read_text() == "mine"
