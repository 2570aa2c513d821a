"""Evaluation during training: metrics in metrics.jsonl, the best checkpoint by FID, exporters taking it."""

import json

import pytest
import tensorflow as tf

from conftest import tiny_config
from engine import rundir
from engine.config import RunOptions
from engine.errors import UserError
from engine.loop import train


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory, data_dir, evaluator_cache):
    """3 epochs of 8 steps (256 images, batch 32), evaluated after every epoch on 64 samples."""
    run_dir = tmp_path_factory.mktemp("evaluated_run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_ENGINE_CACHE", str(evaluator_cache))
        opts = RunOptions(data_dir=str(data_dir), eval_every=1, eval_samples=64, steps_per_loop=4)
        train(tiny_config(steps=0, epochs=3, log_every=4, checkpoint_every=100), opts, run_dir,
              tf.distribute.get_strategy())
    return run_dir


def test_metrics_log_holds_fid_kid_and_score_with_the_losses(evaluated_run):
    records = [json.loads(line) for line in (evaluated_run / "metrics.jsonl").read_text().splitlines()]
    evaluated = [r for r in records if "fid" in r]
    assert [r["step"] for r in evaluated] == [8, 16, 24]
    for r in evaluated:
        assert {"d_loss", "g_loss", "fid", "kid", "kid_stderr", "score"} <= set(r) and r["fid"] >= 0
    assert all("fid" not in r for r in records if r["step"] % 8)


def test_best_checkpoint_is_the_lowest_fid(evaluated_run):
    records = [json.loads(line) for line in (evaluated_run / "metrics.jsonl").read_text().splitlines()]
    best_record = min((r for r in records if "fid" in r), key=lambda r: r["fid"])
    best = json.loads((evaluated_run / "checkpoints" / "best" / "best.json").read_text())
    assert best == {"step": best_record["step"], "fid": best_record["fid"], "num_samples": 64}
    prefix = rundir.best_checkpoint(evaluated_run)
    assert prefix.endswith(f"ckpt-{best['step']}")
    assert len(list((evaluated_run / "checkpoints" / "best").glob("*.index"))) == 1  # max_to_keep=1


def test_load_generator_takes_best_by_default_and_latest_on_request(evaluated_run):
    best = json.loads((evaluated_run / "checkpoints" / "best" / "best.json").read_text())
    _, meta, prefix = rundir.load_generator(evaluated_run)
    assert meta["step"] == best["step"] and rundir.checkpoint_label(prefix).startswith("best by FID")
    assert meta["checkpoint_sha256"] == rundir.checkpoint_sha256(prefix)
    _, meta, prefix = rundir.load_generator(evaluated_run, which="latest")
    assert meta["step"] == 24 and rundir.checkpoint_label(prefix) == "latest (step 24)"


def test_exporter_exports_the_best_checkpoint_and_says_so(evaluated_run, tmp_path, capsys):
    from export import metadata
    from export.savedmodel import export_savedmodel

    best = json.loads((evaluated_run / "checkpoints" / "best" / "best.json").read_text())
    out = export_savedmodel(evaluated_run, tmp_path / "sm", verbose=True)
    assert f"best by FID at step {best['step']}" in capsys.readouterr().out
    assert metadata.read_sidecar(out)["step"] == best["step"]


def test_eval_without_evaluator_fails_before_training(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("GAN_ENGINE_CACHE", str(tmp_path / "empty"))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with pytest.raises(UserError, match="--train-evaluator"):
        train(tiny_config(), RunOptions(data_dir=str(data_dir), eval_every=1), run_dir, tf.distribute.get_strategy())
    assert not list(run_dir.iterdir())  # nothing written: the same --out-dir can be used once the evaluator exists
