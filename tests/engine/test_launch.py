"""The local launcher: TF_CONFIG per worker, and stopping every worker when one fails or on Ctrl-C.

These use stand-in worker scripts (no TensorFlow) so they take about a second; the real 2-worker training through
the launcher is tests/engine/test_multi_worker.py.
"""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from engine import launch
from engine.cluster.tf_config import is_chief, local_task_count, parse_tf_config
from engine.errors import UserError

# A stand-in worker: records its pid, then does what $FAKE_WORKER_<index> says after a moment ("exit:N", "kill"),
# or sleeps.
FAKE_WORKER = """
import json, os, signal, sys, time
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
open(os.path.join(os.environ["PID_DIR"], str(index)), "w").write(str(os.getpid()))
action = os.environ.get(f"FAKE_WORKER_{index}", "sleep")
print(f"worker {index} says {action}", flush=True)
def saved_and_stopped(signum, frame):  # what engine.train does on SIGTERM: save (a moment), exit 128 + signal
    time.sleep(0.3)
    open(os.path.join(os.environ["PID_DIR"], f"saved-{index}"), "w").write("")
    sys.exit(128 + signum)
signal.signal(signal.SIGTERM, saved_and_stopped)
if action != "sleep":
    time.sleep(0.5)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.exit(int(action[5:]))
time.sleep(120)
"""


@pytest.fixture
def fake_workers(monkeypatch, tmp_path):
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    monkeypatch.setenv("PID_DIR", str(pid_dir))
    monkeypatch.setattr(launch, "train_command", lambda args: [sys.executable, "-c", FAKE_WORKER])

    def alive() -> list[int]:
        pids = [int(p.read_text()) for p in pid_dir.iterdir() if not p.name.startswith("saved")]
        return [pid for pid in pids if _running(pid)]

    return alive


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_each_worker_gets_the_whole_cluster_and_its_index(monkeypatch):
    addresses = [f"127.0.0.1:{port}" for port in launch.free_ports(3)]
    assert len(set(addresses)) == 3
    for index in range(3):
        monkeypatch.setenv("TF_CONFIG", launch.tf_config(addresses, index))
        conf = parse_tf_config()  # the launcher writes what the trainer accepts
        assert conf["cluster"]["worker"] == addresses and conf["task"] == {"type": "worker", "index": index}
        assert is_chief(conf) is (index == 0)
        assert local_task_count(conf) == 3  # so each worker takes a third of the cores


def test_arguments_after_the_double_dash_go_to_every_worker():
    args, train_args = launch.parse_args(["--workers", "2", "--", "--steps", "4", "--out-dir", "x"])
    assert args.workers == 2 and train_args == ["--steps", "4", "--out-dir", "x"]
    assert launch.train_command(train_args)[-4:] == ["--out-dir", "x", "--strategy", "multi_worker"]
    with pytest.raises(UserError, match="sets --strategy multi_worker itself"):
        launch.train_command(["--strategy=mirrored"])
    with pytest.raises(UserError, match="--workers 0: must be 1 to "):
        launch.parse_args(["--workers", "0", "--", "--steps", "1"])


@pytest.mark.parametrize("failing, named", [(1, "its log: "), (0, "its output is above")])
def test_a_failing_worker_stops_the_others_and_is_named(fake_workers, monkeypatch, tmp_path, failing, named):
    monkeypatch.setenv(f"FAKE_WORKER_{failing}", "exit:3")
    start = time.monotonic()
    with pytest.raises(UserError, match=f"worker {failing} exited with 3; {named}") as info:
        launch.launch(3, [], log_dir=str(tmp_path / "logs"))
    assert time.monotonic() - start < 30  # the sleeping workers did not run out their 120 s
    assert fake_workers() == []  # every worker is gone
    if failing:
        log = tmp_path / "logs" / f"worker-{failing}.log"
        assert str(log) in str(info.value) and "worker 1 says exit:3" in log.read_text()


def test_a_killed_worker_is_reported_with_its_signal(fake_workers, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_WORKER_1", "kill")
    with pytest.raises(UserError, match="worker 1 was killed by SIGKILL; its log: "):
        launch.launch(2, [], log_dir=str(tmp_path / "logs"))
    assert fake_workers() == []


def test_ctrl_c_stops_every_worker(fake_workers, monkeypatch, tmp_path):
    def interrupt_once_all_started(workers, procs):
        while len(list((tmp_path / "pids").glob("[0-9]"))) < 2:
            time.sleep(0.05)
        raise KeyboardInterrupt  # what Ctrl-C raises in the launcher while it waits

    monkeypatch.setattr(launch, "_wait", interrupt_once_all_started)
    with pytest.raises(KeyboardInterrupt):
        launch.launch(2, [], log_dir=str(tmp_path / "logs"))
    assert fake_workers() == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_the_launcher_is_passed_on_and_the_workers_save_before_it_exits(
    fake_workers, tmp_path, monkeypatch, signum
):
    from engine.errors import Stopped

    def signal_once_all_started():
        while len(list((tmp_path / "pids").glob("[0-9]"))) < 2:
            time.sleep(0.05)
        os.kill(os.getpid(), signum)

    monkeypatch.setattr(launch, "_SIGNALLED", 0)
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    threading.Thread(target=signal_once_all_started, daemon=True).start()
    try:
        with pytest.raises(
            Stopped, match="the workers saved a checkpoint at one step; run the same command with --resume"
        ) as stopped:
            launch.main(["--workers", "2", "--log-dir", str(tmp_path / "logs"), "--", "--steps", "1"])
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    assert stopped.value.code == 143  # the workers were sent SIGTERM whatever the launcher received
    assert fake_workers() == [] and sorted(p.name for p in (tmp_path / "pids").glob("saved-*")) == [
        "saved-0",
        "saved-1",
    ]


def test_all_workers_succeeding_is_success(fake_workers, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_WORKER_0", "exit:0")
    monkeypatch.setenv("FAKE_WORKER_1", "exit:0")
    assert launch.launch(2, [], log_dir=str(tmp_path / "logs")) == 0


def test_launcher_and_tf_config_checks_start_without_tensorflow():
    code = "import sys, engine.launch, engine.cluster.tf_config; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_bad_worker_count_is_one_line(tmp_path, capsys, monkeypatch):
    from tests.commands import run_module

    monkeypatch.chdir(tmp_path)
    code, _, err = run_module(["engine.launch", "--workers", "-1", "--", "--steps", "1"], capsys, monkeypatch)
    assert code == 2
    assert err.strip().startswith("error: --workers -1: must be 1 to ")
    assert len(err.strip().splitlines()) == 1
