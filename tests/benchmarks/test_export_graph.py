"""The plain-vs-optimised benchmark: its verdict and table from given rows, and its --quick mode end to end."""

import json
import sys

import pytest

from benchmarks import export_graph


def row(fmt, threads, batch, plain, opt):
    return {
        "format": fmt,
        "threads": threads,
        "batch": batch,
        "plain_ms": plain,
        "optimised_ms": opt,
        "speedup": plain / opt,
    }


def test_verdict_says_met_or_missed_with_the_numbers():
    fashion = [row("ONNX", 1, 1, 0.3, 0.2), row("ONNX", 1, 256, 60, 50)]
    results = [
        {"presets": ["dcgan_fashion", "dcgan_fashion_fast"], "rows": fashion, "notes": ["a rewrite"]},
        {"presets": ["alphabet"], "rows": [row("TFLite", 2, 16, 1.0, 1.1)], "notes": ["a rewrite"]},
        {"presets": ["dcgan_mnist"], "rows": [row("ONNX", 1, 1, 1.0, 1.1), row("ONNX", 1, 16, 1.0, 0.95)], "notes": []},
    ]
    lines = export_graph.verdict(results)
    assert lines[0].endswith("1.50x (goal >= 1.25x): met")
    assert lines[1].endswith("1.20x (goal >= 1.25x): missed")
    assert lines[2].endswith("missed in 1 rows: alphabet TFLite 2t b16 (0.91x)")  # dcgan_mnist is not counted
    assert "dcgan_mnist: no rewrite applies" in lines[3] and "0.91x-1.05x" in lines[3]
    table = export_graph.format_table(results).splitlines()
    assert table[2] == "| dcgan_fashion, dcgan_fashion_fast | ONNX | 1 | 1 | 0.300 | 0.200 | 1.50x |"


def test_interleaved_timing_reports_the_median_of_every_backend():
    calls = []
    backends = {"a": lambda x: calls.append("a"), "b": lambda x: calls.append("b")}
    medians = export_graph.interleaved(backends, {1: {}}, rounds=3, runs=2)
    assert set(medians) == {("a", 1), ("b", 1)} and all(m >= 0 for m in medians.values())
    assert calls[:6] == ["a"] * 3 + ["b"] * 3  # round 0: one warm-up call, then `runs` timed ones, in order
    assert calls[6:8] == ["b", "b"]  # round 1 in the reverse order
    assert calls.count("a") == calls.count("b") == 1 + 3 * 2


def test_quick_mode_writes_its_table(tmp_path, monkeypatch):
    """dcgan_fashion exported plain and optimised, timed at batch 1 and 16 on one thread: a few seconds."""
    monkeypatch.setattr(sys, "argv", ["prog", "--quick", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as stop:
        export_graph.main()
    assert stop.value.code == 0
    record = json.loads((tmp_path / "export_graph.json").read_text())
    [result] = record["results"]
    assert result["presets"][0] == "dcgan_fashion" and len(result["rows"]) == 2
    assert all(p["batch_1"]["max_abs_error"] <= 1e-4 for p in result["parity"].values())
    assert "## Goals" in (tmp_path / "export_graph.md").read_text()
