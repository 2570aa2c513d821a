"""A benchmark's training child gets the benchmark's SIGTERM / SIGINT, saves, and ends before the benchmark does
(issue 35, row 5: it used to keep training, re-parented to PID 1)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import signal, sys, time, pathlib
out = pathlib.Path(sys.argv[1])
def save(signum, frame):
    time.sleep(0.3)  # a checkpoint being written
    out.write_text(f"saved after signal {signum}")
    sys.exit(128 + signum)
signal.signal(signal.SIGTERM, save)
signal.signal(signal.SIGINT, save)
out.with_suffix(".started").write_text("1")
time.sleep(60)
"""
PARENT = (
    "import sys; from benchmarks.child import run_forwarding; "
    "run_forwarding([sys.executable, '-c', sys.argv[1], sys.argv[2]])"
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_benchmark_reaches_its_child_which_saves_before_both_exit(tmp_path, signum):
    marker = tmp_path / "child.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD, str(marker)], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not marker.with_suffix(".started").exists():
        assert time.monotonic() < deadline and parent.poll() is None
        time.sleep(0.05)
    parent.send_signal(signum)
    _, err = parent.communicate(timeout=60)
    assert parent.returncode == 128 + signum
    assert marker.read_text() == f"saved after signal {signum}"  # the child finished saving before the parent exited
    assert f"stopped by signal {signum}: the child ended with exit {128 + signum}" in err and "Traceback" not in err
