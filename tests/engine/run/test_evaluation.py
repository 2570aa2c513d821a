"""Evaluation during training: metrics in metrics.jsonl, the best checkpoint by FID, exporters taking it."""

import json
import types

import pytest
import tensorflow as tf

from engine.config import RunOptions
from engine.errors import UserError
from engine.run import reading as runread
from engine.run.loop import train


@pytest.fixture(scope="module")
def evaluated_run(tiny_config, tmp_path_factory, data_dir, evaluator_cache):
    """3 epochs of 8 steps (256 images, batch 32), evaluated after every epoch on 64 samples."""
    run_dir = tmp_path_factory.mktemp("evaluated_run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_ENGINE_CACHE", str(evaluator_cache))
        opts = RunOptions(data_dir=str(data_dir), eval_every=1, eval_samples=64, steps_per_loop=4)
        train(
            tiny_config(steps=0, epochs=3, log_every=4, checkpoint_every=100),
            opts,
            run_dir,
            tf.distribute.get_strategy(),
        )
    return run_dir


def test_metrics_log_holds_fid_kid_and_score_with_the_losses(evaluated_run):
    records = [json.loads(line) for line in (evaluated_run / "metrics.jsonl").read_text().splitlines()]
    evaluated = [r for r in records if "fid" in r]
    assert [r["step"] for r in evaluated] == [8, 16, 24]
    for r in evaluated:
        assert {
            "d_loss",
            "g_loss",
            "fid",
            "kid",
            "kid_stderr",
            "score",
            "precision",
            "recall",
            "density",
            "coverage",
            "class_entropy",
            "class_ratio",
            "train_s",
        } <= set(r) and r["fid"] >= 0
        assert 0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1 and 0 <= r["class_entropy"] <= 1
    assert all("fid" not in r for r in records if r["step"] % 8)


def test_best_checkpoint_is_the_lowest_fid(evaluated_run):
    records = [json.loads(line) for line in (evaluated_run / "metrics.jsonl").read_text().splitlines()]
    best_record = min((r for r in records if "fid" in r), key=lambda r: r["fid"])
    best = json.loads((evaluated_run / "checkpoints" / "best" / "best.json").read_text())
    assert best == {"step": best_record["step"], "fid": best_record["fid"], "num_samples": 64}
    prefix = runread.best_checkpoint(evaluated_run)
    assert prefix.endswith(f"ckpt-{best['step']}")
    assert len(list((evaluated_run / "checkpoints" / "best").glob("*.index"))) == 1  # max_to_keep=1


def test_load_generator_takes_best_by_default_and_latest_on_request(evaluated_run):
    best = json.loads((evaluated_run / "checkpoints" / "best" / "best.json").read_text())
    _, meta, prefix = runread.load_generator(evaluated_run)
    assert meta["step"] == best["step"] and runread.checkpoint_label(prefix).startswith("best by FID")
    assert meta["checkpoint_sha256"] == runread.checkpoint_sha256(prefix)
    _, meta, prefix = runread.load_generator(evaluated_run, which="latest")
    assert meta["step"] == 24 and runread.checkpoint_label(prefix) == "latest (step 24)"


def test_exporter_exports_the_best_checkpoint_and_says_so(evaluated_run, tmp_path, capsys):
    from export import metadata
    from export.savedmodel import export_savedmodel

    best = json.loads((evaluated_run / "checkpoints" / "best" / "best.json").read_text())
    out = export_savedmodel(evaluated_run, tmp_path / "sm", verbose=True)
    assert f"best by FID at step {best['step']}" in capsys.readouterr().out
    assert metadata.read_sidecar(out)["step"] == best["step"]


def test_eval_without_evaluator_fails_before_training(tiny_config, tmp_path, data_dir, monkeypatch):
    from engine.quality import evaluator

    monkeypatch.setenv("GAN_ENGINE_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(evaluator, "SHIPPED", tmp_path / "none shipped")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with pytest.raises(UserError, match="--train-evaluator"):
        train(tiny_config(), RunOptions(data_dir=str(data_dir), eval_every=1), run_dir, tf.distribute.get_strategy())
    assert not list(run_dir.iterdir())  # nothing written: the same --out-dir can be used once the evaluator exists


def test_minute_marks_evaluate_once_each_and_the_time_limit_stops_the_run(
    tiny_config, tmp_path, data_dir, evaluator_cache, monkeypatch, capsys
):
    # The loop's clock advances 0.5 s per reading, so minutes pass in a few steps whatever this machine's speed.
    # Marks at 0.0001 and 0.0002 min have both passed after step 1: one evaluation covers them, logged although
    # step 1 is no log step. The time limit (0.25 min) stops a 10,000-step run early, evaluated and saved.
    from engine.run import actions, loop

    clock = iter(range(10**6))
    fake = types.SimpleNamespace(perf_counter=lambda: 0.5 * next(clock), monotonic=lambda: 0.0)
    monkeypatch.setattr(loop, "time", fake)
    monkeypatch.setattr(actions, "time", fake)  # the loop's actions read the same clock
    monkeypatch.setenv("GAN_ENGINE_CACHE", str(evaluator_cache))
    opts = RunOptions(
        data_dir=str(data_dir),
        eval_samples=64,
        eval_at_minutes=(0.0001, 0.0002),
        time_limit_min=0.25,
        steps_per_loop=1,
        checkpoint_every_seconds=0,
    )
    summary = train(
        tiny_config(steps=10_000, log_every=1000, checkpoint_every=1000), opts, tmp_path, tf.distribute.get_strategy()
    )
    stopped = summary["step"]
    assert 2 < stopped < 100
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "fid" in r] == [1, stopped]
    # The mark's evaluation says which mark it was (the later of the two passed) and draws a grid there; the end's not.
    assert [r.get("at_minute") for r in records if "fid" in r] == [0.0002, None]
    assert sorted(p.name for p in (tmp_path / "samples").glob("minute_*.png")) == ["minute_0.0002.png"]
    assert records[-1]["step"] == stopped and records[-1]["train_s"] >= 15
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith(f"ckpt-{stopped}")
    assert (tmp_path / "generator.keras").exists()
    assert "time limit: stopped after" in capsys.readouterr().err


def test_time_options_are_refused_under_multi_worker():
    with pytest.raises(UserError, match="cannot be used with multi_worker"):
        RunOptions(strategy="multi_worker", time_limit_min=5)
    with pytest.raises(UserError, match="must be > 0"):
        RunOptions(eval_at_minutes=(0.0,))
