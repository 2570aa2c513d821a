"""The variant table: its formatting, and one small end-to-end run on the trained test run."""

import json

import pytest

from benchmarks.variants import REJECTED, format_table, run_variants, variants


def test_the_table_has_a_row_for_each_file_the_runnable_formats_offer():
    """The rows come from each format's offers (export.common.Offer), named as in the published results."""
    assert list(variants()) == [
        "ONNX float32",
        "ONNX float32 NCHW",
        "ONNX float16 (--fp16)",
        "ONNX dynamic (--quantize dynamic)",
        "TFLite float32",
        "TFLite float16",
        "TFLite dynamic",
        "TFLite int8",
    ]
    assert [(fmt.kind, offer.variant, offer.layout) for fmt, offer in variants().values()][1:4] == [
        ("onnx", "float32", "NCHW"),
        ("onnx", "float16", "NHWC"),
        ("onnx", "dynamic", "NHWC"),
    ]


def test_table_rows_and_missing_fid():
    rows = [
        {"variant": "Keras float32 (reference)", "fid": 12.345},
        {
            "variant": "TFLite int8",
            "file_bytes": 1024 * 996,
            "max_abs_error": 0.25,
            "mean_abs_error": 0.0194,
            "batch_1_ms": 0.3334,
            "batch_256_ms": 40.12,
            "fid": 13.0,
            "fid_delta": 0.655,
        },
        {
            "variant": "ONNX float16",
            "file_bytes": 2048,
            "max_abs_error": 1e-3,
            "mean_abs_error": 1e-4,
            "batch_1_ms": 0.5,
            "batch_256_ms": 50.0,
            "fid": None,
            "fid_delta": None,
        },
    ]
    lines = format_table(rows).splitlines()
    assert lines[2] == "| Keras float32 (reference) | | | | | | 12.35 | 0 |"
    assert lines[3] == "| TFLite int8 | 996 | 2.50e-01 | 1.94e-02 | 0.333 | 40.12 | 13.00 | +0.66 |"
    assert lines[4].endswith("| n/a | n/a |")


@pytest.mark.slow  # exports 9 variants and generates through each: ~1 min on 2 shared cores
def test_variants_end_to_end(trained_run, tmp_path):
    rows = run_variants(trained_run, samples=32, runs=1, out=tmp_path, with_rejected=True, cache_dir=tmp_path)
    assert [r["variant"] for r in rows[1:]] == list(variants()) + list(REJECTED)
    by_name = {r["variant"]: r for r in rows}
    assert by_name["ONNX float32"]["max_abs_error"] <= 1e-4
    assert by_name["TFLite int8"]["file_bytes"] < 0.35 * by_name["TFLite float32"]["file_bytes"]
    assert json.loads((tmp_path / "variants.json").read_text())["rows"] == rows
    assert "| TFLite int8 |" in (tmp_path / "variants.md").read_text()
