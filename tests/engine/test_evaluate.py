"""`python -m engine.evaluate` end to end: a tiny evaluator, the tiny trained run, evaluation.json and the table."""

import json
import shutil

import pytest

from engine import evaluate
from engine.errors import UserError
from engine.quality.evaluator import evaluator_dir


@pytest.fixture(scope="module")
def cache(tmp_path_factory, data_dir):
    """An evaluator trained through the CLI (1 epoch on the tiny data) into a private cache."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_ENGINE_CACHE", str(root))
        assert (
            evaluate.main(
                [
                    "--train-evaluator",
                    "--dataset",
                    "fashion_mnist",
                    "--data-dir",
                    str(data_dir),
                    "--epochs",
                    "1",
                    "--force",
                ]
            )
            == 0
        )
    return root


@pytest.fixture
def run(trained_run, tmp_path):
    """A private copy of the shared 4-step run, so writing evaluation.json touches nothing else."""
    return shutil.copytree(trained_run, tmp_path / "run")


def test_train_evaluator_cli_writes_the_cache_and_refuses_to_overwrite(cache, data_dir, monkeypatch):
    info = json.loads((evaluator_dir("fashion_mnist", cache) / "evaluator.json").read_text())
    assert info["epochs"] == 1 and (evaluator_dir("fashion_mnist", cache) / "evaluator.keras").exists()
    monkeypatch.setenv("GAN_ENGINE_CACHE", str(cache))
    with pytest.raises(UserError, match="--force"):
        evaluate.main(["--train-evaluator", "--dataset", "fashion_mnist", "--data-dir", str(data_dir)])


def test_evaluate_run_writes_json_with_generator_floor_and_noise(run, cache, monkeypatch, capsys):
    monkeypatch.setenv("GAN_ENGINE_CACHE", str(cache))
    assert evaluate.main(["--run-dir", str(run), "--num-samples", "64"]) == 0
    out = capsys.readouterr().out
    result = json.loads((run / "evaluation.json").read_text())
    for part in ("generator", "floor", "noise"):
        for key in ("fid", "kid", "kid_stderr", "score", "score_std"):
            assert isinstance(result[part][key], float), (part, key)
        assert result[part]["num_samples"] == 64
    assert result["step"] == 4 and result["checkpoint"] == "latest (step 4)"
    assert result["reference"]["num_images"] == 256
    # Real images against real images of the same distribution beat noise by far.
    assert result["floor"]["fid"] < result["noise"]["fid"]
    assert "generator" in out and "floor (real train)" in out and "wrote" in out


def test_evaluate_is_deterministic_for_a_seed(run, cache):
    a = evaluate.evaluate_run(run, num_samples=32, seed=3, cache_dir=cache)
    b = evaluate.evaluate_run(run, num_samples=32, seed=3, cache_dir=cache)
    assert a["generator"]["fid"] == pytest.approx(b["generator"]["fid"], rel=1e-6)


def test_evaluate_with_an_empty_cache_uses_the_shipped_evaluator(run, tmp_path, monkeypatch, capsys):
    from engine.quality.evaluator import shipped_dir

    monkeypatch.setenv("GAN_ENGINE_CACHE", str(tmp_path / "empty"))
    assert evaluate.main(["--run-dir", str(run), "--num-samples", "64"]) == 0  # nothing trained
    result = json.loads((run / "evaluation.json").read_text())
    shipped = json.loads((shipped_dir("fashion_mnist") / "evaluator.json").read_text())
    assert result["evaluator"]["shipped"] is True and result["evaluator"]["sha256"] == shipped["sha256"]
    assert result["evaluator"]["test_accuracy"] == shipped["test_accuracy"]
    assert not (tmp_path / "empty" / "evaluators" / "fashion_mnist" / "evaluator.keras").exists()
    assert "shipped evaluator" in capsys.readouterr().out


def test_best_checkpoint_asked_of_a_run_without_one_is_refused(run, cache):
    with pytest.raises(UserError, match="no best checkpoint"):
        evaluate.evaluate_run(run, num_samples=32, which="best", cache_dir=cache)
