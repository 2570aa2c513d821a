"""Hostile input and hostile moments for training, run directories and clusters (issue 27, second round).

Each test is one row of docs/bad_input.md "Training, runs and clusters (second round)": the command (or its smallest
in-process equivalent), then the contract: one `error:` line and exit status 2 (or the documented exit), no
traceback, nothing half-written, nothing that existed changed. In-process where the row allows, so this file stays
fast; the ones that need a real process and real signals are marked slow.
"""

import errno
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import tensorflow as tf

from engine import launch
from engine.cluster import tf_config as cluster
from engine.config import RunOptions
from engine.errors import Stopped, UserError, printable, run_cli
from engine.evaluate import check_sample_memory
from engine.evaluate import main as evaluate_main
from engine.run import actions, loop
from engine.run import directory as rundir
from engine.run.stopping import StopSignals
from engine.train import main as train_main
from engine.train import next_steps
from tests.treesnap import assert_unchanged, snapshot

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def tiny_args(data_dir, *extra):
    """engine.train arguments for the conftest tiny run (dcgan_fashion, 4 steps of 32, a checkpoint every 2)."""
    return [
        "--preset",
        "dcgan_fashion",
        "--data-dir",
        str(data_dir),
        "--batch-size",
        "32",
        "--steps",
        "4",
        "--set",
        "checkpoint_every=2",
        "--set",
        "log_every=1",
        "--set",
        "sample_count=16",
        *extra,
    ]


def cli(main, argv, capsys) -> tuple[int, str, str]:
    """Runs a CLI's `main` as its `__main__` does (run_cli): (exit status, stdout, stderr)."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(SystemExit) as exited:
            run_cli(lambda: main(argv))
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
    out, err = capsys.readouterr()
    return exited.value.code, out, err


def one_error(code, err, *fragments) -> str:
    """The single `error:` line of a refused command (exit 2, no traceback), checked to hold every fragment."""
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def run_copy(tmp_path, trained_run):
    """A private copy of the conftest's finished 4-step run."""
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    return run


# ---- row 5: kill -9 during a checkpoint save leaves TensorFlow's temporaries ----


def test_leftovers_of_an_interrupted_save_are_removed_at_the_next_run(run_copy, data_dir, capsys):
    ckpts = run_copy / "checkpoints"
    (ckpts / "ckpt-6_temp").mkdir()
    (ckpts / "ckpt-6_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"half")
    (ckpts / "ckpt-6.index.tempstate123456").write_bytes(b"half")
    (ckpts / "checkpoint.tmp0123abcd").write_text("half")
    (run_copy / "config.json.tmp").write_text("")
    (run_copy / ".generator.partial.keras").write_bytes(b"PK")
    (ckpts / "notes.txt").write_text("mine")  # not this program's naming: kept
    code, out, err = cli(train_main, tiny_args(data_dir, "--resume", "--out-dir", str(run_copy)), capsys)
    assert code == 0, err
    assert "note: removed what an interrupted write left" in err and "ckpt-6_temp" in err
    names = sorted(p.name for p in ckpts.iterdir())
    assert not [n for n in names if "temp" in n or ".tmp" in n] and "notes.txt" in names
    assert not (run_copy / "config.json.tmp").exists() and not (run_copy / ".generator.partial.keras").exists()
    assert "nothing to do" in out


# ---- row 6: a signal during the last traced call ----


def signal_at(when):
    """A Loop.stop_requested that sees SIGTERM arrive during the traced call after which `when(loop)` holds."""

    def stop_requested(self, stop):
        if when(self) and not stop.requested:
            stop.signum = signal.SIGTERM
        return stop.requested

    return stop_requested


def test_a_signal_during_the_last_call_still_writes_the_runs_end(tiny_config, tmp_path, data_dir, monkeypatch):
    monkeypatch.setattr(loop.Loop, "stop_requested", signal_at(lambda self: self.step >= self.plan.total_steps))
    with pytest.raises(Stopped, match=r"stopped at step 4 of 4: the run is complete") as stopped:
        loop.train(tiny_config(), RunOptions(data_dir=str(data_dir)), tmp_path, tf.distribute.get_strategy())
    assert stopped.value.code == 143
    assert (tmp_path / "samples" / "step_000004.png").exists()
    import keras

    assert keras.models.load_model(tmp_path / "generator.keras").output_shape[1:] == (28, 28, 1)
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-4")


def test_resume_of_a_run_at_its_end_writes_what_the_end_left_unwritten(run_copy, data_dir, capsys):
    (run_copy / "generator.keras").unlink()
    (run_copy / "samples" / "step_000004.png").unlink()
    code, out, err = cli(train_main, tiny_args(data_dir, "--resume", "--out-dir", str(run_copy)), capsys)
    assert code == 0, err
    assert "wrote what the end of its training had left unwritten: samples/step_000004.png, generator.keras" in out
    assert (run_copy / "generator.keras").exists() and (run_copy / "samples" / "step_000004.png").exists()
    assert "next:" in out
    # A generator older than the latest checkpoint (a run resumed to train further, killed while writing its new
    # generator) is rewritten too.
    state = run_copy / "checkpoints" / "checkpoint"
    os.utime(run_copy / "generator.keras", ns=(state.stat().st_mtime_ns - 10**9,) * 2)
    code, out, err = cli(train_main, tiny_args(data_dir, "--resume", "--out-dir", str(run_copy)), capsys)
    assert code == 0 and "left unwritten: generator.keras" in out, err
    before = snapshot(run_copy)
    code, out, err = cli(train_main, tiny_args(data_dir, "--resume", "--out-dir", str(run_copy)), capsys)
    assert code == 0 and "nothing to do" in out, err
    assert_unchanged(before, snapshot(run_copy))


# ---- row 7: a full disk while writing generator.keras, and at start ----


def test_a_full_disk_while_writing_the_generator_leaves_no_half_file_and_resume_finishes(
    run_copy, data_dir, capsys, monkeypatch
):
    import keras

    (run_copy / "generator.keras").unlink()
    real_save = keras.Model.save

    def full_disk(self, path, *a, **k):
        Path(path).write_bytes(b"PK\x03\x04 cut short")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", full_disk)
    argv = tiny_args(data_dir, "--resume", "--out-dir", str(run_copy))
    code, out, err = cli(train_main, argv, capsys)
    line = one_error(code, err, "disk full while writing", "generator.keras", "latest checkpoint is still ckpt-4")
    assert f"--resume --out-dir {shlex.quote(str(run_copy))}`" in line
    assert not (run_copy / "generator.keras").exists()
    assert not list(run_copy.glob(".*partial*")), "a half-written file was left"
    monkeypatch.setattr(keras.Model, "save", real_save)
    code, out, err = cli(train_main, argv, capsys)
    assert code == 0 and "left unwritten: generator.keras" in out, err
    assert keras.models.load_model(run_copy / "generator.keras") is not None


@pytest.fixture
def tmpfs(tmp_path):
    """A small tmpfs (root only; skipped elsewhere), remounted with `remount(options)`."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    remount = lambda options: subprocess.run(["mount", "-o", f"remount,{options}", str(mount)], check=True)
    yield mount, remount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_at_start_is_one_line_and_leaves_no_run(tmpfs, data_dir, capsys):
    mount, _ = tmpfs
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:  # fill it to the last block
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    before = snapshot(mount)
    code, out, err = cli(train_main, tiny_args(data_dir, "--out-dir", str(mount / "run")), capsys)
    one_error(code, err, "disk full")
    assert_unchanged(before, snapshot(mount))  # no run, no config.json.tmp: the same command works once freed
    filler.unlink()


# ---- row 8: a command that fails after its run directory was made ----


def test_a_failure_after_the_run_directory_is_made_removes_it_and_leaves_runs_latest(
    tmp_path, data_dir, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "old").mkdir(parents=True)
    (tmp_path / "runs" / "latest").symlink_to("old")
    before = snapshot(tmp_path)
    # --eval-every with no evaluator for the dataset: refused before the run directory is made.
    monkeypatch.setenv("GAN_ENGINE_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr("engine.quality.evaluator.shipped_dir", lambda dataset: None)
    code, _, err = cli(train_main, tiny_args(data_dir, "--eval-every", "1"), capsys)
    one_error(code, err, "no evaluator for dataset fashion_mnist")
    assert_unchanged(before, snapshot(tmp_path))
    # Anything failing once the run is made (here: out of memory drawing the sample latents) removes it.
    monkeypatch.setattr(loop, "fixed_latents", lambda cfg: (_ for _ in ()).throw(MemoryError()))
    code, _, err = cli(train_main, tiny_args(data_dir), capsys)
    one_error(code, err, "out of memory", "sample_count=16")
    code, _, err = cli(train_main, tiny_args(data_dir, "--out-dir", str(tmp_path / "new" / "run")), capsys)
    one_error(code, err, "out of memory")
    assert_unchanged(before, snapshot(tmp_path))


def test_runs_latest_moves_at_a_new_runs_first_checkpoint(tmp_path, data_dir, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seen = []
    real_save = actions.save_checkpoint  # the loop's Checkpoint action saves

    def save_and_look(gan, manager, step):
        seen.append((step, os.path.lexists("runs/latest")))
        real_save(gan, manager, step)

    monkeypatch.setattr(actions, "save_checkpoint", save_and_look)
    code, out, err = cli(train_main, tiny_args(data_dir), capsys)
    assert code == 0, err
    assert seen == [(2, False), (4, True)]  # moved by the save at step 2, not before
    assert (tmp_path / "runs" / "latest" / "generator.keras").exists()
    assert not list((tmp_path / "runs").glob(".latest-*"))


# ---- row 9: a multi-worker peer that never starts ----

TWO = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}}


def two_workers(index: int) -> dict:
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        ports = [a.getsockname()[1], b.getsockname()[1]]
    return {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}


def test_the_chief_waits_a_bounded_time_for_a_missing_worker_and_names_it():
    conf = two_workers(0)
    start = time.monotonic()
    with pytest.raises(UserError, match=r"worker 1 \(127\.0\.0\.1:\d+\) did not start within 1 s .*GAN_CLUSTER_WAIT_S"):
        cluster.wait_for_cluster(conf, timeout=1.0)
    assert time.monotonic() - start < 10


def test_a_worker_waits_a_bounded_time_for_the_chief_and_a_signal_ends_the_wait():
    conf = two_workers(1)
    with pytest.raises(UserError, match=r"the chief, worker 0 \(127\.0\.0\.1:\d+\), did not call this task"):
        cluster.wait_for_cluster(conf, timeout=1.0)
    previous = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        with pytest.raises(Stopped, match="SIGTERM while waiting for the cluster") as stopped:
            cluster.wait_for_cluster(conf, timeout=30.0)
    finally:
        timer.cancel()
    assert stopped.value.code == 143
    assert signal.getsignal(signal.SIGTERM) is previous  # the wait's handlers are gone


def test_the_cluster_starts_once_every_task_answered():
    chief, worker = two_workers(0), None
    worker = {**chief, "task": {"type": "worker", "index": 1}}
    errors = []

    def run_worker():
        try:
            cluster.wait_for_cluster(worker, timeout=20.0)
        except Exception as e:  # reported below
            errors.append(e)

    thread = threading.Thread(target=run_worker)
    thread.start()
    time.sleep(0.3)
    cluster.wait_for_cluster(chief, timeout=20.0)
    thread.join(20)
    assert not thread.is_alive() and not errors
    port = int(worker["cluster"]["worker"][1].rpartition(":")[2])
    with socket.socket() as s:  # the worker's port is free again for TensorFlow's server
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("", port))


@pytest.mark.slow
def test_multi_worker_with_a_peer_that_never_starts_is_one_line_and_honours_sigterm(tmp_path, data_dir):
    command = [sys.executable, "-m", "engine.train", *tiny_args(data_dir, "--strategy", "multi_worker")]
    env = {**ENV, "TF_CONFIG": json.dumps(two_workers(0)), "GAN_CLUSTER_WAIT_S": "2"}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    one_error(result.returncode, result.stderr, "worker 1 (127.0.0.1:", "did not start within 2 s")
    env["GAN_CLUSTER_WAIT_S"] = "600"
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    first = proc.stderr.readline()  # "waiting for worker 1 (...) to start", said after SAY_WAITING_AFTER_S
    assert "waiting for worker 1" in first, first
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143 and "SIGTERM while waiting for the cluster" in err, err
    assert not (tmp_path / "runs").exists()


# ---- row 11: TF_CONFIG that crashed TensorFlow ----


@pytest.mark.parametrize(
    "conf, message",
    [
        ({"cluster": {"chief": [], "worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}}, "non-empty"),
        ({**TWO, "task": {"type": ["worker"], "index": 0}}, "does not name a member"),
        ({**TWO, "cluster": {"worker": ["127.0.0.1:٣٣"]}}, "ASCII digits"),
        ({**TWO, "task": {"type": "worker", "index": True}}, "does not name a member"),
        ({**TWO, "cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:1"]}}, "more than once"),
    ],
    ids=["empty chief (segfault)", "type a list (TypeError)", "Arabic-Indic port", "index true", "one port twice"],
)
def test_tf_config_tensorflow_cannot_take_is_one_line(conf, message, monkeypatch, capsys):
    monkeypatch.setenv("TF_CONFIG", json.dumps(conf))
    code, _, err = cli(train_main, ["--strategy", "multi_worker", "--steps", "1"], capsys)
    one_error(code, err, "TF_CONFIG", message)


# ---- row 12: the run directory on a read-only file system ----


def test_a_read_only_run_directory_is_one_line(tmpfs, run_copy, data_dir, capsys):
    mount, remount = tmpfs
    (mount / "run" / "checkpoints").mkdir(parents=True)  # what the refusal reads of a run: its configs
    for name in ("config.json", "checkpoints/trained_config.json"):
        shutil.copy(run_copy / name, mount / "run" / name)
    remount("ro")
    before = snapshot(mount)
    code, _, err = cli(train_main, tiny_args(data_dir, "--out-dir", str(mount / "new")), capsys)
    one_error(code, err, "cannot write into", "Read-only file system", "choose a writable --out-dir")
    code, _, err = cli(
        train_main, tiny_args(data_dir, "--steps", "6", "--resume", "--out-dir", str(mount / "run")), capsys
    )
    one_error(code, err, "--resume", "Read-only file system")
    assert_unchanged(before, snapshot(mount))


# ---- row 13: a non-UTF-8 --out-dir ----


def test_a_non_utf8_out_dir_is_one_line_and_creates_nothing(tmp_path, data_dir, capsys):
    out = os.fsdecode(bytes(tmp_path) + b"/run\xff")
    code, _, err = cli(train_main, tiny_args(data_dir, "--out-dir", out), capsys)
    one_error(code, err, "is not a UTF-8 name", "run\\xff")
    assert list(tmp_path.iterdir()) == []


def test_a_message_holding_a_non_utf8_path_prints_on_a_strict_console(monkeypatch):
    import io

    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(raw, encoding="utf-8", errors="strict"))
    name = os.fsdecode(b"run-\xff")
    with pytest.raises(SystemExit):
        run_cli(lambda: (_ for _ in ()).throw(UserError(f"--out-dir {name} is wrong")))
    sys.stderr.flush()
    assert raw.getvalue() == b"error: --out-dir run-\\xff is wrong\n"
    assert printable("plain") == "plain"


# ---- row 14: sizes whose memory is checked before the work ----


def test_evaluation_sizes_beyond_memory_are_refused_before_any_work(tmp_path, data_dir, run_copy, capsys):
    code, _, err = cli(
        train_main,
        tiny_args(data_dir, "--eval-every", "1", "--eval-samples", "1000000000", "--out-dir", str(tmp_path / "r")),
        capsys,
    )
    one_error(code, err, "--eval-samples 1,000,000,000 would need about", "GiB", "use at most")
    assert not (tmp_path / "r").exists()
    before = snapshot(run_copy)
    code, _, err = cli(evaluate_main, ["--run-dir", str(run_copy), "--num-samples", "1000000000"], capsys)
    one_error(code, err, "--num-samples 1,000,000,000 would need about")
    assert_unchanged(before, snapshot(run_copy))
    from engine.config import Config

    cfg = Config(preset="p", model="m")
    check_sample_memory(5000, cfg, "--num-samples", memory=8 * 2**30)  # the usual N fits a small machine
    with pytest.raises(UserError, match=r"more than half of this machine's 1\.0 GiB; use at most [\d,]+ "):
        check_sample_memory(10**6, cfg, "--num-samples", memory=2**30)


# ---- row 17: damaged files read on resume ----


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda run: (run / "checkpoints/trained_config.json").write_bytes(os.urandom(256)), "is unreadable"),
        (
            lambda run: [
                (run / "checkpoints/trained_config.json").unlink(),
                (run / "checkpoints/trained_config.json").mkdir(),
            ],
            "is unreadable (IsADirectoryError",
        ),
        (
            lambda run: (run / "checkpoints/checkpoint").write_bytes(b"\xff\xfe" + os.urandom(64)),
            "checkpoint is unreadable",
        ),
        (
            lambda run: [(run / "checkpoints/checkpoint").unlink(), (run / "checkpoints/checkpoint").mkdir()],
            "checkpoint is not a file",
        ),
        (lambda run: (run / "checkpoints/checkpoint").write_text('model_checkpoint_path: "ckpt-9"\n'), "is damaged"),
    ],
    ids=[
        "trained_config random bytes",
        "trained_config a directory",
        "state random bytes",
        "state a directory",
        "state naming none",
    ],
)
def test_a_damaged_file_read_on_resume_is_one_line_and_changes_nothing(run_copy, data_dir, capsys, damage, message):
    damage(run_copy)
    before = snapshot(run_copy)
    code, _, err = cli(train_main, tiny_args(data_dir, "--steps", "6", "--resume", "--out-dir", str(run_copy)), capsys)
    one_error(code, err, message)
    assert_unchanged(before, snapshot(run_copy))


def test_a_metrics_log_ending_in_undecodable_bytes_is_trimmed_on_resume(run_copy, data_dir, capsys):
    log = run_copy / "metrics.jsonl"
    log.write_bytes(log.read_bytes() + b"\xff\xfe\x00")
    code, _, err = cli(train_main, tiny_args(data_dir, "--steps", "6", "--resume", "--out-dir", str(run_copy)), capsys)
    assert code == 0, err
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [2, 4, 6]  # a record a call


# ---- row 18: runs/latest a real directory, runs a file ----


@pytest.mark.parametrize(
    "make, message", [("latest-dir", "runs/latest is a directory"), ("runs-file", "runs is a file")]
)
def test_runs_latest_a_directory_or_runs_a_file_is_one_line(tmp_path, data_dir, capsys, monkeypatch, make, message):
    monkeypatch.chdir(tmp_path)
    if make == "latest-dir":
        (tmp_path / "runs" / "latest").mkdir(parents=True)
        (tmp_path / "runs" / "latest" / "mine.txt").write_text("mine")
    else:
        (tmp_path / "runs").write_text("mine")
    before = snapshot(tmp_path)
    code, _, err = cli(train_main, tiny_args(data_dir), capsys)
    one_error(code, err, message, "--out-dir")
    assert_unchanged(before, snapshot(tmp_path))  # no runs/<stamp>, no runs/.latest-PID


def test_a_stale_latest_link_of_a_killed_process_is_removed(tmp_path):
    runs = tmp_path / "runs"
    (runs / "a").mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (runs / f".latest-{dead.pid}").symlink_to("a")
    rundir._point_latest(runs, runs / "a")
    assert sorted(p.name for p in runs.iterdir()) == ["a", "latest"]


# ---- row 19: engine.launch limits ----


def test_launch_bounds_workers_and_refuses_a_log_dir_that_is_a_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where a leaked gan-launch-tmp-* would appear
    (tmp_path / "log").write_text("mine")
    before = snapshot(tmp_path)
    code, _, err = cli(launch.main, ["--workers", "100000", "--", "--steps", "1"], capsys)
    one_error(code, err, "--workers 100000: must be 1 to ")
    code, _, err = cli(
        launch.main, ["--workers", "2", "--log-dir", str(tmp_path / "log"), "--", "--steps", "1"], capsys
    )
    one_error(code, err, "is a file, not a directory")
    assert_unchanged(before, snapshot(tmp_path))


def test_launch_that_cannot_start_its_workers_leaks_no_temporary_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def no_ports(n, host="127.0.0.1"):
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(launch, "free_ports", no_ports)
    code, _, err = cli(launch.main, ["--workers", "2", "--", "--steps", "1"], capsys)
    one_error(code, err, "cannot start 2 workers (Too many open files")
    assert list(tmp_path.iterdir()) == []


# ---- row 20: engine.evaluate flags ----


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seed", "-1"], "--seed -1: must be in [0, 2**32)"),
        (
            ["--train-evaluator", "--dataset", "fashion_mnist", "--image-shape", "abc"],
            "--image-shape 'abc': expected HxWxC",
        ),
        (["--train-evaluator", "--dataset", "fashion_mnist", "--image-shape", "0x28x1"], "expected HxWxC"),
    ],
)
def test_evaluate_flags_out_of_range_are_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(evaluate_main, argv, capsys)
    one_error(code, err, message)
    assert list(tmp_path.iterdir()) == []


# ---- row 22: repeated signals ----


def test_signals_after_a_stop_are_noted_not_raised_until_the_cli_exits(capfd):
    previous, previous_term = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        with StopSignals(until_exit=True) as stop:
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
        assert stop.exit_code == 143
        os.kill(os.getpid(), signal.SIGINT)  # after the block: still noted, no KeyboardInterrupt
        time.sleep(0.05)
        assert "SIGINT again" in capfd.readouterr().err
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
    with StopSignals() as stop:  # without a stop, leaving restores the handlers
        pass
    assert signal.getsignal(signal.SIGINT) is previous


def started_training(tmp_path, data_dir, *extra) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "engine.train",
        *tiny_args(data_dir, "--steps", "100000", "--steps-per-loop", "1", "--set", "checkpoint_every=100000", *extra),
        "--out-dir",
        str(tmp_path / "run"),
    ]
    proc = subprocess.Popen(command, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while not (log.exists() and len(log.read_text().splitlines()) >= 2):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
        time.sleep(0.05)
    return proc


@pytest.mark.slow
@pytest.mark.parametrize(
    "signals, gap, code",
    [
        ((signal.SIGTERM, signal.SIGINT, signal.SIGTERM, signal.SIGINT), 0.075, 143),
        ((signal.SIGINT, signal.SIGINT, signal.SIGINT), 0.4, 130),
    ],
    ids=["TERM INT TERM INT in 0.3 s", "three Ctrl-C 0.4 s apart"],
)
def test_repeated_signals_end_with_the_first_ones_status_and_no_traceback(tmp_path, data_dir, signals, gap, code):
    proc = started_training(tmp_path, data_dir)
    for s in signals:
        proc.send_signal(s)
        time.sleep(gap)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err and "Exception ignored" not in err and "KeyboardInterrupt" not in err, err
    assert "checkpoint saved, resume with" in err


# ---- row 23: printed commands are shell-quoted ----


def test_printed_commands_survive_copy_and_paste_of_paths_with_spaces(tiny_config, tmp_path, data_dir, monkeypatch):
    run = tmp_path / "my runs" / "it's here"
    lines = next_steps(str(run)).splitlines()[1:]
    assert shlex.split(lines[0])[4] == str(run) and shlex.split(lines[1])[3] == f"{run}/export/generator.onnx"
    assert shlex.split(lines[3])[2] == f"{run}/tensorboard"
    monkeypatch.setattr(loop.Loop, "stop_requested", signal_at(lambda self: self.step >= 2))
    run.mkdir(parents=True)
    with pytest.raises(Stopped) as stopped:
        loop.train(
            tiny_config(), RunOptions(data_dir=str(data_dir), steps_per_loop=1), run, tf.distribute.get_strategy()
        )
    command = str(stopped.value).split("`")[1]
    assert shlex.split(command) == ["python", "-m", "engine.train", "--resume", "--out-dir", str(run)]


# ---- row 25: lines that leak to the console ----


def test_any_worker_runs_traced_so_tensorflow_logs_no_eager_warning(monkeypatch):
    from tensorflow.python.distribute import mirrored_run

    from engine.cluster.strategies import any_worker, make_strategy

    warned = []
    monkeypatch.setattr(mirrored_run.logging, "log_first_n", lambda level, msg, *a: warned.append(msg))
    strategy = make_strategy("mirrored", 2)
    assert any_worker(strategy, True) and not any_worker(strategy, False)
    assert not [msg for msg in warned if "eagerly" in msg]


def test_a_user_set_tf_cpp_min_log_level_does_not_bring_back_the_start_up_lines(tmp_path):
    code = "from engine.quiet import quiet_tensorflow; quiet_tensorflow(); import tensorflow; print('ok')"
    for level in ("3",):
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=Path(__file__).parents[2],
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": level},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0 and result.stdout == "ok\n" and result.stderr == "", result.stderr


def run_python(*args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    root = Path(__file__).parents[2]
    return subprocess.run([sys.executable, *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["engine.train", "--preset", "nope"], "error: unknown preset 'nope'"),
        (["engine.evaluate", "--run-dir", "nope"], "error: run directory nope does not exist"),
        (["export.onnx", "--run-dir", "nope"], "error: run directory nope does not exist"),
    ],
    ids=["train", "evaluate", "export"],
)
def test_a_bad_name_is_refused_before_tensorflow_starts(argv, message):
    probe = (
        f"import runpy, sys\nsys.argv = {argv!r}\n"
        f"try:\n    runpy.run_module({argv[0]!r}, run_name='__main__', alter_sys=True)\n"
        "finally:\n    print('tensorflow imported:', 'tensorflow' in sys.modules)"
    )
    refused = run_python("-c", probe)
    assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    assert refused.stdout == "tensorflow imported: False\n"  # checked first: no 4-5 s wait for TensorFlow


def test_a_folder_run_picks_its_shape_quietly(tmp_path):
    """A folder's shape is picked with TensorFlow imported (the families are Keras models): without its lines."""
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(4):
        Image.new("RGB", (16, 16), (60 * i, 0, 0)).save(folder / f"{i}.png")
    planned = run_python("-m", "engine.train", "--data-dir", str(folder), "--steps", "1", "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert "image shape 16x16x3" in planned.stdout
    assert planned.stderr == "", planned.stderr
