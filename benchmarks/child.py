"""Child processes of the throughput benchmarks, and the steps per call their rows share.

The benchmarks' parent processes never start TensorFlow: each measurement runs in a fresh child (logical CPU
devices and thread pools are fixed when TensorFlow starts). A leaf: it imports no other benchmarks module, so every
benchmark can use it.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys

CALL_IMAGES = 1024  # "many steps per call" = as many as fill this: Python's per-call cost per image is then equal
ENTRY = "benchmarks.train_throughput"  # its --child flag runs a payload (train_throughput.child_main)


def many_steps(batch: int) -> int:
    """Steps per call for the 'many' rows: 32 at batch 32, 16 at 64, 8 at 128, 4 at 256."""
    return max(1, min(32, CALL_IMAGES // batch))


def child_env() -> dict:
    """This process's environment with TensorFlow's C++ log lines below errors hidden."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def run_child(payload: dict) -> list[dict]:
    """Runs `payload` in a fresh process; returns the JSON lines it printed, or one error record per row of the
    payload when it failed before printing any."""
    out = subprocess.run(
        [sys.executable, "-m", ENTRY, "--child", json.dumps(payload)],
        env=child_env(),
        capture_output=True,
        text=True,
    )
    results = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode and not results:
        tail = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"
        return [{**row, "error": tail} for row in payload.get("rows", [{}])]
    return results


def run_forwarding(cmd: list, **popen_kwargs) -> int:
    """Runs `cmd` to its end and returns its exit code; a SIGTERM or SIGINT to this process is passed on to the
    child (an engine.train run saves a checkpoint and stops), and once the child has ended this process exits with
    128 + the signal: a benchmark stopped by a signal never leaves a training run behind it, re-parented to PID 1."""
    child = subprocess.Popen(cmd, **popen_kwargs)
    received = []

    def forward(signum, frame):
        received.append(signum)
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if received:
        print(f"stopped by signal {received[0]}: the child ended with exit {code}", file=sys.stderr)
        raise SystemExit(128 + received[0])
    return code
