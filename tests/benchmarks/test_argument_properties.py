"""Property-based test (Hypothesis) of every benchmark's command line (issue 35, "Beyond the list"): random arguments
give one line (a refusal: exit 2, or an `error:` exit) or reach the measuring, never a traceback, and never change a
file under benchmarks/results/.

Each benchmark runs in-process as `python -m benchmarks.NAME` would: its own `if __name__ == "__main__":` block,
executed in the imported module, with sys.argv set. Nothing heavy is measured: the functions where each benchmark's
work begins (WORK) raise `Measuring` instead, so what is checked is everything a benchmark does before it measures:
parsing, validating, choosing rows and files. The flags are read from each benchmark's own parser, so a new flag is
driven without editing this file; a new benchmark must name its work here. The examples are derandomized; the
slow tier runs more of them.
"""

import argparse
import ast
import contextlib
import importlib
import io
import json
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.treesnap import assert_unchanged, snapshot

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = dict(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))

# Where each benchmark's work begins ("module.function"; a module other than the benchmark's is patched there).
WORK = {
    "export_graph": ["run_table", "run_layers", "run_session"],
    "folder_data": ["write_emoji", "write_fashion"],
    "inference": ["run_benchmark"],
    "op_profile": ["profile_step", "compare_dropout"],
    "quality": ["train_or_read", "engine.quality.report.Judge", "benchmarks.folder_quality.train_or_read"],
    "recipe_search": ["run_trial"],
    "step_cost": ["measure"],
    "train_throughput": ["child_main", "measure_peak", "benchmarks.precision_compare.run_child"],
    "variants": ["run_variants"],
}


class Measuring(Exception):
    """Raised where a benchmark's work would begin: the command line was accepted."""


class Parsed(Exception):
    """Raised by the first parse_args of a benchmark, carrying its parser."""


def commands() -> list[str]:
    return sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if '__name__ == "__main__"' in p.read_text())


def main_block(module) -> object:
    """The code of the module's `if __name__ == "__main__":` block."""
    tree = ast.parse(Path(module.__file__).read_text())
    for node in tree.body:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            return compile(ast.Module(node.body, type_ignores=[]), module.__file__, "exec")
    raise AssertionError(f"{module.__name__} has no __main__ block")


def patch_work(monkeypatch, name: str) -> None:
    def measuring(*args, **kwargs):
        raise Measuring(name)

    for target in WORK[name]:
        where, attr = target.rsplit(".", 1) if "." in target else (f"benchmarks.{name}", target)
        monkeypatch.setattr(importlib.import_module(where), attr, measuring)


def run_as_main(module, argv: list[str]) -> tuple[object, str, str]:
    """(the outcome: an exit code, a `Measuring`, or the exception raised, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv
    sys.argv = [f"benchmarks/{module.__name__.rsplit('.', 1)[1]}.py", *argv]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            exec(main_block(module), vars(module))
        outcome = 0
    except SystemExit as e:
        outcome = e.code
    except Measuring as e:
        outcome = e
    except Exception as e:  # a traceback, for a user
        outcome = e
    finally:
        sys.argv = saved
    return outcome, out.getvalue(), err.getvalue()


def parser_of(module, monkeypatch):
    """The benchmark's ArgumentParser, caught at its first parse_args."""

    def caught(self, *args, **kwargs):
        raise Parsed(self)

    with monkeypatch.context() as m:
        m.setattr(argparse.ArgumentParser, "parse_args", caught)
        try:
            exec(main_block(module), vars(module))
        except Parsed as e:
            return e.args[0]
    raise AssertionError(f"{module.__name__} parsed no arguments")


values = st.one_of(
    st.integers(-3, 5).map(str),
    st.sampled_from(
        [
            "",
            ",",
            "nope",
            "0",
            "-1",
            "1e309",
            "nan",
            "abc",
            "1,2",
            "1,,2",
            "x=folder",
            'x=folder "unclosed',
            "dcgan_fashion",
            "folder@32",
            "nope@8",
            "float32,mixed_bfloat16",
            "auto",
            "published,default",
            "base",
            "{}",
            "null",
            "[]",
            ".",
            "out",
            "benchmarks/results",
            "missing/dir",
            "notes.txt",
            "emoji",
            "fashion",
        ]
    ),
    st.text(max_size=6),
)


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A working directory holding a copy of benchmarks/results (the default --out is relative to it) and a file."""
    root = tmp_path_factory.mktemp("bench cwd")
    shutil.copytree(ROOT / "benchmarks" / "results", root / "benchmarks" / "results")
    (root / "notes.txt").write_text("not a run\n")
    return root


def test_every_benchmark_with_a_command_line_names_where_its_work_begins():
    assert commands() == sorted(WORK)


@pytest.mark.parametrize("name", sorted(WORK))
def test_random_arguments_are_one_line_or_reach_the_measuring_and_change_no_result(name, place, monkeypatch):
    check_arguments(name, place, monkeypatch, examples=15)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(WORK))
def test_random_arguments_are_one_line_or_reach_the_measuring_and_change_no_result_many(name, place, monkeypatch):
    check_arguments(name, place, monkeypatch, examples=300)


def check_arguments(name: str, place: Path, monkeypatch, examples: int) -> None:
    module = importlib.import_module(f"benchmarks.{name}")
    patch_work(monkeypatch, name)
    monkeypatch.chdir(place)
    parser = parser_of(module, monkeypatch)
    # Hidden flags (help=SUPPRESS: train_throughput's --child, the parent's JSON to its child) are no user's input.
    shown = [a for a in parser._actions if a.help != argparse.SUPPRESS]
    flags = [(s, a.nargs == 0) for a in shown for s in a.option_strings if s not in ("-h", "--help")]
    positional = [c for a in parser._actions if not a.option_strings for c in (a.choices or [])]
    results = snapshot(place / "benchmarks")

    @settings(max_examples=examples, **SETTINGS)
    @given(st.data())
    def check(data):
        argv = [data.draw(st.sampled_from(positional))] if positional and data.draw(st.booleans()) else []
        for flag, bare in data.draw(st.lists(st.sampled_from(flags), max_size=4)):
            argv += [flag] if bare else [flag, data.draw(values)]
        outcome, out, err = run_as_main(module, argv)
        assert_unchanged(results, snapshot(place / "benchmarks"))
        if isinstance(outcome, Measuring) or outcome in (0, None):
            return
        if isinstance(outcome, str):  # SystemExit("error: ..."): printed as one line, exit status 1
            assert outcome.startswith("error: ") and "\n" not in outcome, outcome
            return
        assert outcome == 2, f"{argv}: {outcome!r}\n{err}"
        lines = err.strip().splitlines()
        assert lines and (len(lines) == 1 and lines[0].startswith("error: ") or ": error: " in lines[-1]), (argv, err)

    check()


def test_recipe_search_that_measures_nothing_rewrites_no_result(place, monkeypatch):
    """`--trials ,` named no trial and rewrote recipe_search.md (this machine's description over the measured one's);
    trials all recorded already rewrote it too. Now: one line, and nothing written."""
    module = importlib.import_module("benchmarks.recipe_search")
    patch_work(monkeypatch, "recipe_search")
    monkeypatch.chdir(place)
    results = snapshot(place / "benchmarks")
    outcome, _, _ = run_as_main(module, ["--trials", ","])
    assert outcome == "error: --trials ',' names no trial; name some (see --list)"
    first = json.loads((place / "benchmarks" / "results" / "recipe_search.jsonl").read_text().splitlines()[0])
    recorded = [
        "--trials",
        first["trial"],
        "--minutes",
        str(first["minutes"]),
        "--num-samples",
        str(first["num_samples"]),
    ]
    outcome, out, _ = run_as_main(module, recorded)
    assert outcome == 0 and "nothing was measured" in out
    assert_unchanged(results, snapshot(place / "benchmarks"))
