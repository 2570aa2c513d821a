"""The two-policy throughput comparison: its plan, the alternating window order, the ratio, the CLI's policy pair,
and one tiny measured pair."""

import argparse

import pytest

from benchmarks.child import many_steps
from benchmarks.precision_compare import alternate, compare_plan, format_table, measure_pair, pair_result
from benchmarks.throughput_runners import Row
from benchmarks.train_throughput import full_plan, precisions_arg
from engine.presets import get_preset

PAIR = ["float32", "mixed_bfloat16"]


def test_full_plan_covers_the_main_preset_at_every_batch_the_others_at_their_own_and_the_default_command():
    compared = {(r.preset, r.batch) for r in compare_plan()}
    engine_rows = {(r.preset, r.batch) for r in full_plan() if r.kind == "engine"}
    assert {(p, b) for p, b in engine_rows if p == "dcgan_fashion"} <= compared
    assert {p for p, _ in engine_rows} <= {p for p, _ in compared}
    for preset, batch in compared - {("dcgan_fashion_fast", 32)}:
        assert preset == "dcgan_fashion" or get_preset(preset).batch_size == batch
    rows = compare_plan()
    assert len(set(rows)) == len(rows) and all(r.kind == "engine" and r.precision == "float32" for r in rows)
    assert Row("dcgan_fashion_fast", 32, "engine", steps_per_call=10, strategy="mirrored") in rows
    assert all(r.steps_per_call == many_steps(r.batch) for r in rows if r.preset in ("dcgan_fashion", "alphabet"))
    assert {(r.preset, r.batch) for r in compare_plan(quick=True)} == {
        ("dcgan_fashion", 64),
        ("dcgan_fashion", 256),
        ("dcgan_fashion_fast", 32),
    }


def test_windows_alternate_a_b_b_a_after_one_warm_up_each():
    calls = []
    runs = {"a": lambda n: calls.append(("a", n)), "b": lambda n: calls.append(("b", n))}
    ticks = iter(range(100))
    first, times = alternate(runs, 7, 4, clock=lambda: float(next(ticks)))
    assert [c[0] for c in calls] == ["a", "b", "a", "b", "b", "a", "a", "b", "b", "a"]
    assert all(n == 7 for _, n in calls)
    assert set(first) == {"a", "b"} and [len(t) for t in times.values()] == [4, 4]


def test_pair_result_takes_each_policys_median_window_and_their_ratio():
    row = Row("dcgan_fashion", 64, "engine", steps_per_call=16)
    first = {"float32": 5.0, "mixed_bfloat16": 6.0}
    times = {"float32": [2.0, 1.0, 3.0], "mixed_bfloat16": [1.0, 0.5, 4.0]}
    r = pair_result(row, PAIR, first, times, 1000)
    assert r["precisions"]["float32"]["images_per_s"] == pytest.approx(500.0)  # median window 2 s
    assert r["precisions"]["mixed_bfloat16"]["images_per_s"] == pytest.approx(1000.0)  # median 1 s
    assert r["ratio"] == pytest.approx(2.0)
    assert r["round_ratios"] == pytest.approx([2.0, 2.0, 0.75])
    assert r["precisions"]["float32"]["compile_s"] == pytest.approx(3.0)
    assert "precision" not in r and r["batch"] == 64
    table = format_table([r, {**row.__dict__, "error": "boom"}], PAIR)
    assert "**2.00x**" in table and "0.75-2.00" in table and "failed: boom" in table


def test_precision_flag_takes_one_policy_or_two_different_ones(monkeypatch):
    from engine.step import precision

    assert precisions_arg("float32") == ["float32"]
    assert precisions_arg("float32, mixed_bfloat16") == PAIR
    monkeypatch.setattr(precision, "read_cpu_flags", lambda: frozenset({"avx512_bf16"}))
    assert precisions_arg("float32,auto") == PAIR
    for bad in ("float32,float32", "float32,mixed_float16,mixed_bfloat16", "bf16"):
        with pytest.raises(argparse.ArgumentTypeError):
            precisions_arg(bad)


@pytest.mark.slow  # its plan, windows and medians: the tests above
def test_one_tiny_pair_is_measured_under_both_policies():
    import tensorflow as tf

    row = Row("dcgan_fashion", 8, "engine", steps_per_call=2)
    r = measure_pair(row, PAIR, rounds=2, window_images=16, strategy=tf.distribute.get_strategy())
    assert r["window_images"] == 16
    for p in PAIR:
        assert len(r["precisions"][p]["window_images_per_s"]) == 2 and r["precisions"][p]["images_per_s"] > 0
    assert r["ratio"] == pytest.approx(
        r["precisions"]["mixed_bfloat16"]["images_per_s"] / r["precisions"]["float32"]["images_per_s"]
    )
