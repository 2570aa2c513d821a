"""The inference benchmark: its timing arithmetic (fake clock), its table, and one tiny end-to-end run."""

import argparse
import json
import time

import numpy as np
import pytest

from benchmarks.inference import (
    NOT_AVAILABLE,
    WARMUP,
    add_floor,
    fixed_inputs,
    format_table,
    measure,
    ort_matmul_peak,
    parse_batches,
    run_benchmark,
)
from engine.errors import UserError


class FakeClock:
    """A clock that only moves when the timed function runs: warm-up calls cost 1 s, timed calls the given seconds."""

    def __init__(self, durations):
        self.now, self.durations, self.calls, self.seen = 0.0, list(durations), 0, []

    def __call__(self) -> float:
        return self.now

    def work(self, inputs):
        self.calls += 1
        self.seen.append(inputs)
        self.now += 1.0 if self.calls <= WARMUP else self.durations.pop(0)


def test_measure_reports_median_p90_and_throughput_after_warmup():
    clock = FakeClock([0.001, 0.003, 0.002, 0.010, 0.002])
    x = {"z": np.zeros((16, 4), np.float32)}
    [row] = measure({"fake": clock.work}, {16: x}, runs=5, clock=clock)
    assert clock.calls == WARMUP + 5 and clock.durations == []  # the slow warm-up calls were not counted
    assert all(seen is x for seen in clock.seen)  # the very same inputs on every call
    assert row["backend"] == "fake" and row["batch"] == 16 and row["runs"] == 5
    assert row["median_ms"] == pytest.approx(2.0)
    # sorted 1, 2, 2, 3, 10 ms: the 90th percentile interpolates 60% of the way from 3 to 10
    assert row["p90_ms"] == pytest.approx(7.2)
    assert row["images_per_s"] == pytest.approx(16 / 0.002)


def test_measure_times_real_calls():
    [row] = measure({"sleep": lambda x: time.sleep(0.002)}, {1: {}}, runs=5, warmup=1)
    assert 2.0 <= row["median_ms"] < 50 and row["p90_ms"] >= row["median_ms"]


def test_one_row_per_backend_and_batch_and_unavailable_backends_say_why():
    backends = {"a": lambda x: None, "cuda": NOT_AVAILABLE, "b": lambda x: None}
    rows = measure(backends, {1: {}, 16: {}, 256: {}}, runs=2)
    assert [(r["backend"], r["batch"]) for r in rows] == [(b, n) for b in ("a", "cuda", "b") for n in (1, 16, 256)]
    table = format_table(rows).splitlines()
    assert len(table) == 2 + 9
    assert table[0] == "| backend | batch | median ms | p90 ms | images/s | FLOP floor ms | x floor |"
    assert sum(line.startswith("| cuda |") and NOT_AVAILABLE in line for line in table) == 3


def test_table_formats_numbers():
    row = {"backend": "x", "batch": 16, "runs": 3, "median_ms": 1.23456, "p90_ms": 2.5, "images_per_s": 12960.2}
    assert format_table([row]).splitlines()[-1] == "| x | 16 | 1.235 | 2.500 | 12,960 | n/a | n/a |"
    assert (
        format_table([{**row, "floor_ms": 0.5}]).splitlines()[-1]
        == "| x | 16 | 1.235 | 2.500 | 12,960 | 0.500 | 2.5x |"
    )


def test_floor_is_the_batch_flops_at_the_peak_of_the_same_thread_count():
    rows = [
        {"backend": "one", "batch": 16, "median_ms": 1.0},
        {"backend": "all", "batch": 16, "median_ms": 1.0},
        {"backend": "gpu", "batch": 16, "median_ms": 1.0},
        {"backend": "one", "batch": 1, "unavailable": "no"},
    ]
    add_floor(rows, flops_per_image=10**6, peaks={1: 100.0, 4: 400.0}, threads={"one": 1, "all": 4})
    assert rows[0]["floor_ms"] == pytest.approx(16e6 / 100e9 * 1e3)  # 0.16 ms
    assert rows[1]["floor_ms"] == pytest.approx(0.04)
    assert "floor_ms" not in rows[2] and "floor_ms" not in rows[3]


def test_ort_matmul_peak_is_a_plausible_rate():
    peak = ort_matmul_peak(1, sizes=(64, 128), repeats=2)
    assert 0.1 < peak < 10_000  # GFLOP/s on one core: more than a toy loop, less than any CPU core can do


def test_fixed_inputs_match_the_signature_and_are_reproducible():
    meta = {"latent_dim": 5, "latent_distribution": "uniform", "latent_range": [0.0, 1.0], "num_classes": 3}
    a, b = fixed_inputs(meta, (1, 4)), fixed_inputs(meta, (1, 4))
    assert a[4]["z"].dtype == np.float32 and a[4]["z"].shape == (4, 5)
    assert a[4]["label"].dtype == np.int32 and set(a[4]["label"]) <= {0, 1, 2}
    np.testing.assert_array_equal(a[4]["z"], b[4]["z"])


def test_parse_batches():
    assert parse_batches("1,16,256") == (1, 16, 256)
    for bad in ("", "0,4", "a"):
        with pytest.raises(argparse.ArgumentTypeError, match="integers >= 1"):
            parse_batches(bad)


def test_benchmark_end_to_end_on_tiny_exports(tmp_path):
    """Given files, no run directory is needed: every backend runs and the results are written."""
    import keras

    from export.onnx import write_onnx
    from export.savedmodel import write_savedmodel
    from export.tflite import write_tflite

    keras.utils.set_random_seed(0)
    z = keras.Input((4,), name="z")
    image = keras.layers.Reshape((2, 2, 1))(keras.layers.Dense(4, activation="tanh")(z))
    generator = keras.Model(z, image)
    meta = {
        "latent_dim": 4,
        "latent_distribution": "normal",
        "latent_range": None,
        "num_classes": 0,
        "class_names": [],
        "output_range": [-1.0, 1.0],
        "layout": "NHWC",
        "image_shape": [2, 2, 1],
        "preset": "tiny",
        "step": 3,
        "checkpoint_sha256": "0" * 64,
        "engine_version": "test",
    }
    paths = {
        "onnx": write_onnx(generator, meta, tmp_path / "g.onnx"),
        "tflite": write_tflite(generator, meta, tmp_path / "g.tflite"),
        "savedmodel": write_savedmodel(generator, meta, tmp_path / "saved_model"),
    }
    out = tmp_path / "results"
    rows = run_benchmark(runs=2, batches=(1, 3), out=out, command="python -m benchmarks.inference --runs 2", **paths)
    timed = {r["backend"] for r in rows if "median_ms" in r}
    assert len(rows) == 2 * 7 and len(timed) >= 5  # ORT CUDA and TensorRT only where offered
    assert {
        "ONNX float32 / ORT CPU (1 thread)",
        "TFLite float32 / LiteRT (1 thread)",
        "SavedModel float32 / TF",
    } <= timed
    assert all(r.get("floor_ms") is None for r in rows)  # no run, so no generator to count FLOPs on
    md = (out / "inference.md").read_text()
    assert md.startswith("# Inference latency, tiny generator (step 3, 4 -> 2x2x1)")
    assert "`python -m benchmarks.inference --runs 2`" in md and "onnxruntime" in md and "FLOP floor" in md
    assert json.loads((out / "inference.json").read_text())["rows"] == rows

    other = write_onnx(generator, {**meta, "step": 4}, tmp_path / "other.onnx")  # same net, another checkpoint
    with pytest.raises(UserError, match="not the same generator: ONNX float32: step 4.*; TFLite float32: step 3"):
        run_benchmark(runs=1, batches=(1,), out=out, **{**paths, "onnx": other})


@pytest.mark.slow  # exports 8 variants and measures the peak: ~30 s on 2 shared cores
def test_benchmark_on_a_run_covers_every_variant_with_a_floor(trained_run, tmp_path):
    rows = run_benchmark(trained_run, runs=1, batches=(1,), out=tmp_path)
    timed = {r["backend"]: r for r in rows if "median_ms" in r}
    from benchmarks.variants import variants

    for variant in variants():
        assert any(name.startswith(variant + " / ") for name in timed), variant
    cpu = [r for name, r in timed.items() if "CPU" in name or "LiteRT" in name]
    assert cpu and all(r["floor_ms"] > 0 for r in cpu)
    assert "floor_ms" not in timed["SavedModel float32 / TF"]
