"""The command line end to end, as a user runs it: train (mirrored), resume, refusals, export. The commands run
in this process as `python -m` runs them (tests/commands.py); only the multi-worker run starts its own."""

import json
import os
import subprocess
import sys

import pytest

from tests.commands import run_module

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.fixture
def cli(tmp_path, capsys, monkeypatch):
    """`cli("engine.train", ...)`: (exit status, stdout, stderr) of the command run from tmp_path."""
    monkeypatch.chdir(tmp_path)
    return lambda *args: run_module(args, capsys, monkeypatch)


def test_train_mirrored_resume_and_export_onnx(cli, tmp_path, data_dir):
    common = ("--data-dir", str(data_dir), "--batch-size", "32")
    # Two replicas named: at batch 32 `--cpu-replicas auto` would pick one, which XLA can compile.
    mirrored = ("--strategy", "mirrored", "--cpu-replicas", "2", "--jit")
    code, _, err = cli("engine.train", *mirrored, "--steps", "3", *common)
    assert code == 0, err
    assert "--jit ignored" in err  # XLA cannot run mirrored over logical CPUs: said once, no crash
    assert (tmp_path / "runs" / "latest" / "config.json").exists()

    code, out, err = cli("engine.train", "--resume", "--steps", "5", *common)
    assert code == 0, err
    assert "at step 3" in out
    steps = [json.loads(x)["step"] for x in (tmp_path / "runs/latest/metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 5

    code, out, err = cli("export.onnx")
    assert code == 0, err
    assert (tmp_path / "runs/latest/export/generator.onnx").exists()
    assert "max abs error" in out

    code, _, err = cli("export.onnx")
    assert code == 2 and "pass --force" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (("--preset", "nope"), "unknown preset 'nope'; valid:"),
        (("--set", "batch_size=big"), "override batch_size='big': expected int"),
        (("--batch-size", "0"), "--batch-size 0: must be > 0"),
        (
            ("--strategy", "mirrored", "--cpu-replicas", "2", "--batch-size", "33", "--steps", "1"),
            "does not split evenly across 2 replicas",
        ),
        (("--data-dir", "/nonexistent/dir", "--steps", "1"), "/nonexistent/dir does not exist"),
    ],
)
def test_bad_input_is_one_line_without_traceback(cli, tmp_path, args, message):
    code, _, err = cli("engine.train", "--out-dir", str(tmp_path / "run"), *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1


def test_non_empty_out_dir_is_never_overwritten(cli, tmp_path, data_dir):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    code, _, err = cli("engine.train", "--out-dir", str(out), "--data-dir", str(data_dir), "--steps", "1")
    assert code == 2 and "is not empty" in err
    assert sorted(p.name for p in out.iterdir()) == ["precious.txt"]


def test_resume_refuses_a_different_preset_or_batch(cli, trained_run):
    code, _, err = cli("engine.train", "--resume", "--out-dir", str(trained_run), "--batch-size", "64")
    assert code == 2
    assert "batch_size: run has 32, asked 64" in err


def test_multi_worker_trains_from_tf_config(tmp_path, data_dir):
    """One worker on a free loopback port: the multi_worker path builds, trains and checkpoints."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tf_config = json.dumps({"cluster": {"worker": [f"127.0.0.1:{port}"]}, "task": {"type": "worker", "index": 0}})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.train",
            "--strategy",
            "multi_worker",
            "--steps",
            "2",
            "--batch-size",
            "32",
            "--data-dir",
            str(data_dir),
            "--out-dir",
            str(tmp_path / "run"),
        ],
        cwd=tmp_path,
        env={**ENV, "TF_CONFIG": tf_config},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "checkpoints" / "ckpt-2.index").exists()


def test_malformed_tf_config_is_one_line(cli, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{oops")
    code, _, err = cli("engine.train", "--strategy", "multi_worker", "--dry-run")
    assert code == 2 and "TF_CONFIG is not valid JSON" in err
    assert "Traceback" not in err


def test_dry_run_prints_each_networks_layer_table(capsys):
    from engine.train import main

    assert main(["--preset", "dcgan_fashion", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("layer ") == 2 and "output shape" in out
    # G's first Dense (100 -> 7*7*128, SELU) and D's last Dense (6272 -> 1), as model.summary() shows them
    assert any(
        line.split()[1:2] == ["Dense"] and "(None, 6272)" in line and line.endswith("633,472")
        for line in out.splitlines()
    )
    assert any(
        line.split()[1:2] == ["Dense"] and "(None, 1)" in line and line.endswith("6,273") for line in out.splitlines()
    )
    assert "generator parameters: 840,705" in out and "discriminator parameters: 212,865" in out


def test_cpu_replicas_auto_is_the_default_and_the_start_line_says_what_it_picked(capsys):
    import argparse

    from engine.train import cpu_replicas_arg, main

    assert (cpu_replicas_arg("auto"), cpu_replicas_arg("3")) == ("auto", 3)
    with pytest.raises(argparse.ArgumentTypeError, match="auto or a whole number"):
        cpu_replicas_arg("two")

    # dcgan_fashion's batch 32 leaves 16 images per replica on 2: auto keeps one, on any number of cores.
    assert main(["--preset", "dcgan_fashion", "--strategy", "mirrored", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "mirrored over 1 logical CPU replica(s) (auto:" in out
    assert "strategy mirrored: 1 replica(s)" in out
