"""MultiWorkerMirroredStrategy: two real workers on 127.0.0.1, chief-only writing, and TF_CONFIG checks.

The 2-worker run is compared with one process mirrored over 2 logical CPUs (conftest splits the CPU): same global
batch, seed and replica layout (2 replicas x batch/2), so the same per-replica BatchNorm batches and latent draws.
Against the default strategy (1 replica x batch) the numbers differ by design, about 1e-2: BatchNorm statistics
are per replica and each replica draws its own latents.
"""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.cluster.tf_config import is_chief, local_task_count, parse_tf_config
from engine.errors import UserError

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
LOSS_RTOL = 1e-5  # measured: 2 workers vs 2 local replicas agree to ~1e-7 (all-reduce order is the only change)
OUTPUT_ATOL = 1e-5  # generator outputs after 4 steps, images in [-1, 1]


def start(command, *, cwd, env=ENV) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def stop(proc: subprocess.Popen) -> None:
    """Stops a process started by `start` if it still runs: SIGTERM (the launcher then stops its workers), then
    SIGKILL to its whole group, so a hung test leaves no worker behind."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def finish(proc: subprocess.Popen, timeout: float) -> subprocess.CompletedProcess:
    """Waits for `proc`; past `timeout` (collectives stuck?) stops it and fails the test instead of hanging CI."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
        out, err = proc.communicate()
        pytest.fail(f"{proc.args[2:4]} ran past {timeout} s\n{out[-3000:]}\n{err[-3000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


# Two processes (20+ s): -m slow. The default run trains multi_worker as one worker from TF_CONFIG
# (tests/engine/test_train_cli.py::test_multi_worker_trains_from_tf_config).
@pytest.mark.slow
def test_two_workers_train_and_match_one_process_with_two_replicas(tiny_config, tmp_path, data_dir):
    from engine.cluster.strategies import make_strategy
    from engine.config import RunOptions
    from engine.run.loop import train
    from engine.run.reading import load_generator, read_config

    cfg = tiny_config(batch_size=16, seed=3, epochs=0)
    train_args = [
        "--preset",
        "dcgan_fashion",
        "--data-dir",
        str(data_dir),
        "--batch-size",
        "16",
        "--steps",
        "4",
        "--seed",
        "3",
        "--set",
        "epochs=0",
        "--set",
        "log_every=1",
        "--set",
        "checkpoint_every=2",
        "--set",
        "sample_count=16",
        "--steps-per-loop",
        "1",
        "--out-dir",
        str(tmp_path / "mw"),
    ]
    launcher = start(
        [
            sys.executable,
            "-m",
            "engine.launch",
            "--workers",
            "2",
            "--log-dir",
            str(tmp_path / "logs"),
            "--",
            *train_args,
        ],
        cwd=tmp_path,
    )
    try:
        # The reference run, in this process while the workers start: one worker, 2 local replicas.
        (tmp_path / "one").mkdir()
        train(
            cfg,
            RunOptions(strategy="mirrored", steps_per_loop=1, data_dir=str(data_dir)),
            tmp_path / "one",
            make_strategy("mirrored", 2),
        )
        result = finish(launcher, timeout=240)
    finally:
        stop(launcher)
    out, log = result.stdout, tmp_path / "logs" / "worker-1.log"
    assert result.returncode == 0, f"{out}\n{result.stderr}\n{log.read_text() if log.exists() else ''}"
    assert "worker 1 (127.0.0.1:" in out and str(log) in out  # the non-chief's log is named
    assert "done: step 4" in out and "done: step 4" in log.read_text()  # both workers finished
    # The non-chief's last line points at the chief's run, not at its own throwaway copy.
    assert "thrown away" in log.read_text() and "samples in" not in log.read_text()

    # Only the chief wrote the run; the non-chief's temporary run directory is gone and runs/latest was not made.
    scratch = re.search(r"into (\S*gan-worker-run-\S+)", log.read_text()).group(1)
    assert not Path(scratch).exists()
    assert not (tmp_path / "runs").exists()
    assert read_config(tmp_path / "mw")[0] == cfg

    # The same global batches and seed give the same losses and weights as one process with 2 replicas.
    mw, one = metrics(tmp_path / "mw"), metrics(tmp_path / "one")
    assert [r["step"] for r in mw] == [r["step"] for r in one] == [1, 2, 3, 4]
    for a, b in zip(mw, one, strict=False):
        for key in ("d_loss", "g_loss"):
            assert a[key] == pytest.approx(b[key], rel=LOSS_RTOL), (a["step"], key)
    generator, meta, prefix = load_generator(tmp_path / "mw")  # the chief's checkpoint restores
    assert meta["step"] == 4 and prefix.endswith("ckpt-4")
    reference, _, _ = load_generator(tmp_path / "one")
    z = np.random.default_rng(0).standard_normal((8, cfg.latent_dim)).astype(np.float32)
    images = np.asarray(generator(z, training=False))
    assert np.isfinite(images).all()
    np.testing.assert_allclose(images, np.asarray(reference(z, training=False)), atol=OUTPUT_ATOL)


def test_malformed_tf_config_stops_training_with_one_line_before_tensorflow_starts(tmp_path):
    bad = json.dumps({"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}})
    result = finish(
        start(
            [sys.executable, "-m", "engine.train", "--strategy", "multi_worker", "--steps", "1"],
            cwd=tmp_path,
            env={**ENV, "TF_CONFIG": bad},
        ),
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: TF_CONFIG cluster job 'worker' must be")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


TWO = {"worker": ["10.0.0.1:2222", "10.0.0.2:2222"]}


@pytest.mark.parametrize(
    "conf, message",
    [
        ({"cluster": {"worker": ["hostonly"]}, "task": {"type": "worker", "index": 0}}, 'list of "host:port"'),
        ({"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 0}}, 'list of "host:port"'),
        (
            {"cluster": {**TWO, "ps": ["p:1"]}, "task": {"type": "worker", "index": 0}},
            "job(s) ps; multi_worker runs only",
        ),
        ({"cluster": {**TWO, "chief": ["c:1", "d:1"]}, "task": {"type": "chief", "index": 0}}, "2 chiefs"),
        ({"cluster": TWO, "task": {"type": "worker", "index": "0"}}, "does not name a member"),
        ([1, 2], 'needs "cluster" and "task"'),
    ],
)
def test_tf_config_problems_are_named(monkeypatch, conf, message):
    monkeypatch.setenv("TF_CONFIG", json.dumps(conf))
    with pytest.raises(UserError, match=re.escape(message)):
        parse_tf_config()


@pytest.mark.parametrize(
    "cluster, task, chief",
    [
        (TWO, {"type": "worker", "index": 0}, True),  # no chief job: worker 0 is the chief
        (TWO, {"type": "worker", "index": 1}, False),
        ({**TWO, "chief": ["10.0.0.3:2222"]}, {"type": "worker", "index": 0}, False),
        ({**TWO, "chief": ["10.0.0.3:2222"]}, {"type": "chief", "index": 0}, True),
    ],
)
def test_only_tensorflows_chief_writes(monkeypatch, cluster, task, chief):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    assert is_chief(parse_tf_config()) is chief


def test_tasks_sharing_a_host_are_counted():
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2", "10.0.0.9:1"]}
    local = {"cluster": cluster, "task": {"type": "worker", "index": 1}}
    assert local_task_count(local) == 2
    assert local_task_count({**local, "task": {"type": "worker", "index": 2}}) == 1


def test_worker_run_dir_copies_a_run_to_resume_and_is_removed(tmp_path):
    from engine.run.directory import worker_run_dir

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "samples").mkdir()
    (run / "config.json").write_text("{}")
    (run / "checkpoints" / "ckpt-2.index").write_text("i")
    with pytest.raises(RuntimeError, match="worker failed"), worker_run_dir(run) as scratch:
        assert (scratch / "checkpoints" / "ckpt-2.index").read_text() == "i"
        assert (scratch / "config.json").exists() and not (scratch / "samples").exists()
        raise RuntimeError("worker failed")
    assert not scratch.exists()  # removed even when training raised
    assert (run / "checkpoints" / "ckpt-2.index").exists()  # the chief's run is untouched
    with worker_run_dir() as fresh:
        assert list(fresh.iterdir()) == []
    assert not fresh.exists()


def test_a_lost_worker_is_one_line_under_multi_worker_only():
    import tensorflow as tf

    from engine.cluster.strategies import peer_failures_as_errors

    aborted = (
        "Collective ops is aborted by: Error reported from /job:worker/task:1: The following tasks are "
        "unhealthy (stopped sending heartbeats):\n/job:worker/replica:0/task:1"
    )
    with pytest.raises(UserError, match=r"lost a worker \(Collective ops is aborted by: Error reported from /job"):
        with peer_failures_as_errors("multi_worker"):
            raise tf.errors.UnavailableError(None, None, aborted)
    with pytest.raises(tf.errors.UnavailableError), peer_failures_as_errors("mirrored"):
        raise tf.errors.UnavailableError(None, None, aborted)


@pytest.mark.slow
def test_chief_stops_with_one_line_when_a_worker_is_killed(tmp_path, data_dir):
    """Without the launcher: TensorFlow's heartbeats notice the dead peer and the chief exits, its checkpoint intact."""
    from engine.launch import free_ports, tf_config
    from engine.run.reading import load_generator

    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    command = [
        sys.executable,
        "-m",
        "engine.train",
        "--strategy",
        "multi_worker",
        "--data-dir",
        str(data_dir),
        "--batch-size",
        "16",
        "--steps",
        "1000",
        "--set",
        "checkpoint_every=2",
        "--out-dir",
        str(tmp_path / "run"),
    ]
    (tmp_path / "tmp").mkdir()  # the killed worker cannot remove its temporary run directory: keep it in here
    env = {**ENV, "TMPDIR": str(tmp_path / "tmp")}
    workers = [start(command, cwd=tmp_path, env={**env, "TF_CONFIG": tf_config(addresses, i)}) for i in range(2)]
    try:
        deadline = time.monotonic() + 180
        while not (tmp_path / "run" / "checkpoints" / "ckpt-2.index").exists():
            assert time.monotonic() < deadline and workers[0].poll() is None, "the chief never checkpointed"
            time.sleep(0.5)
        workers[1].kill()
        chief = finish(workers[0], timeout=120)
    finally:
        for w in workers:
            stop(w)
    assert chief.returncode == 2, chief.stderr[-3000:]
    assert chief.stderr.strip().splitlines()[-1].startswith("error: the cluster lost a worker (")
    assert "Traceback" not in chief.stderr
    assert load_generator(tmp_path / "run")[1]["step"] >= 2


@pytest.mark.slow
def test_two_workers_resume_where_an_uninterrupted_run_would_be(tmp_path, data_dir):
    """2 workers stop at step 2, resume to 4: steps 3-4 match an uninterrupted 2-replica run (same seed, batches)."""
    from engine.cluster.strategies import make_strategy
    from engine.config import RunOptions
    from engine.presets import get_preset
    from engine.run.loop import train

    args = [
        # the reference run's preset (the default is another): the simultaneous order, which the kill -9 tests find
        # exact across a resume (the alternating order under mirrored is not, yet)
        "--preset",
        "dcgan_fashion_fast",
        "--data-dir",
        str(data_dir),
        "--batch-size",
        "16",
        "--seed",
        "5",
        "--set",
        "log_every=1",
        "--set",
        "checkpoint_every=2",
        "--steps-per-loop",
        "1",
        "--out-dir",
        str(tmp_path / "mw"),
    ]
    launcher = [sys.executable, "-m", "engine.launch", "--workers", "2", "--log-dir", str(tmp_path / "logs"), "--"]
    first = finish(start([*launcher, *args, "--steps", "2"], cwd=tmp_path), timeout=240)
    assert first.returncode == 0, first.stderr[-3000:]
    again = finish(start([*launcher, *args, "--steps", "4", "--resume"], cwd=tmp_path), timeout=240)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "at step 2" in again.stdout and "at step 2" in (tmp_path / "logs" / "worker-1.log").read_text()

    (tmp_path / "one").mkdir()
    fast = get_preset("dcgan_fashion_fast")
    cfg = dataclasses.replace(fast, batch_size=16, seed=5, steps=4, log_every=1, checkpoint_every=2, sample_count=64)
    train(
        cfg,
        RunOptions(strategy="mirrored", steps_per_loop=1, data_dir=str(data_dir)),
        tmp_path / "one",
        make_strategy("mirrored", 2),
    )
    mw, one = metrics(tmp_path / "mw"), metrics(tmp_path / "one")
    assert [r["step"] for r in mw] == [r["step"] for r in one] == [1, 2, 3, 4]
    for a, b in zip(mw, one, strict=False):
        for key in ("d_loss", "g_loss"):
            assert a[key] == pytest.approx(b[key], rel=LOSS_RTOL), (a["step"], key)


@pytest.mark.slow
def test_sigterm_to_the_launcher_saves_every_worker_at_one_step(tmp_path, data_dir):
    """The launcher passes SIGTERM on; the workers agree on a step (an all-reduce), save there together and exit."""
    args = [
        "--data-dir",
        str(data_dir),
        "--batch-size",
        "16",
        "--steps",
        "1000",
        "--set",
        "log_every=1",
        "--set",
        "checkpoint_every=1000",
        "--steps-per-loop",
        "1",
        "--out-dir",
        str(tmp_path / "mw"),
    ]
    launcher = start(
        [sys.executable, "-m", "engine.launch", "--workers", "2", "--log-dir", str(tmp_path / "logs"), "--", *args],
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 180
        while not ((tmp_path / "mw" / "metrics.jsonl").exists() and len(metrics(tmp_path / "mw")) >= 3):
            assert time.monotonic() < deadline and launcher.poll() is None, "the workers never trained"
            time.sleep(0.2)
        launcher.send_signal(signal.SIGTERM)
        done = finish(launcher, timeout=180)
    finally:
        stop(launcher)
    assert done.returncode == 143, done.stderr[-3000:]
    chief = re.search(r"stopped at step (\d+) of 1000: checkpoint saved", done.stderr)
    worker = re.search(
        r"stopped at step (\d+) of 1000: checkpoint saved", (tmp_path / "logs" / "worker-1.log").read_text()
    )
    assert chief and worker and chief[1] == worker[1], done.stderr[-2000:]
    assert f'"ckpt-{chief[1]}"' in (tmp_path / "mw" / "checkpoints" / "checkpoint").read_text()
    assert "the workers saved a checkpoint at one step" in done.stderr
