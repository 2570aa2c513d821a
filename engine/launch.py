"""Run multi-worker training on this machine: `python -m engine.launch --workers 2 -- <engine.train args>`.

Starts N `python -m engine.train ... --strategy multi_worker` processes on free loopback ports, each with a
TF_CONFIG naming the whole cluster and its own index. Worker 0 (the chief, the only one that writes the run)
streams to this console; the others write to log files named at start. If any worker fails, the rest are stopped
and the launcher exits non-zero naming it. Ctrl-C (or SIGTERM) is passed on to every worker: they agree on a step,
save a checkpoint there and exit, and the launcher says so (exit 143 or 130). It imports no TensorFlow.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from engine.errors import Stopped, UserError, run_cli

HOST = "127.0.0.1"
STOP_GRACE_S = 10.0  # how long a stopped worker may take to exit before it is killed
SAVE_GRACE_S = 120.0  # after a signal: how long the workers may take to save their checkpoint and exit
SAVED_CODES = (128 + signal.SIGTERM, 128 + signal.SIGINT)  # a worker stopped on a signal, its checkpoint saved
WORKERS_PER_CORE = 4  # each worker is a TensorFlow process with its own threads: more only oversubscribe the machine
_SIGNALLED = 0  # the signal the launcher received, if any


@dataclass(frozen=True)
class Worker:
    index: int
    address: str
    log: Path | None  # None: the chief, which streams to this console


def free_ports(n: int, host: str = HOST) -> list[int]:
    """`n` distinct ports the OS reports free (bound to port 0 together, then released for the workers)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in socks]


def tf_config(addresses: list[str], index: int) -> str:
    """TensorFlow's standard TF_CONFIG for worker `index` of a cluster of workers (worker 0 is the chief)."""
    return json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})


def train_command(train_args: list[str]) -> list[str]:
    """The engine.train command every worker runs; the strategy is the launcher's to set."""
    if any(a == "--strategy" or a.startswith("--strategy=") for a in train_args):
        raise UserError("engine.launch sets --strategy multi_worker itself; drop --strategy from the train arguments")
    return [sys.executable, "-m", "engine.train", *train_args, "--strategy", "multi_worker"]


def parse_args(argv=None) -> tuple[argparse.Namespace, list[str]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args = []
    if "--" in argv:
        cut = argv.index("--")
        argv, train_args = argv[:cut], argv[cut + 1 :]
    p = argparse.ArgumentParser(
        prog="python -m engine.launch",
        description=__doc__.split("\n")[0],
        usage="%(prog)s --workers N [--log-dir DIR] -- <engine.train args>",
    )
    p.add_argument("--workers", type=int, required=True, help="worker processes to start on this machine (>= 1)")
    p.add_argument("--log-dir", help="where non-chief workers' logs go (default: a new temporary directory)")
    args = p.parse_args(argv)
    most = max_workers()
    if not 1 <= args.workers <= most:
        raise UserError(
            f"--workers {args.workers}: must be 1 to {most} on this machine ({WORKERS_PER_CORE} per CPU core; each "
            "worker is a whole TensorFlow process)"
        )
    if args.log_dir is not None:
        check_log_dir(args.log_dir)
    return args, train_args


def max_workers() -> int:
    return WORKERS_PER_CORE * (os.cpu_count() or 1)


def check_log_dir(log_dir: str) -> None:
    """Refuses a --log-dir that is a file or cannot be written, before any worker starts."""
    path = Path(log_dir)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"--log-dir {log_dir}: {existing} is a file, not a directory; choose a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"--log-dir {log_dir}: {existing} cannot be written; choose a writable directory")


def launch(n_workers: int, train_args: list[str], *, log_dir: str | None = None) -> int:
    """Starts the workers, waits for all of them; returns 0 when all exit 0.

    Raises:
      UserError: a worker exited non-zero or was killed (naming it and its log); the others were stopped.
    """
    command = train_command(train_args)
    procs: list[subprocess.Popen] = []
    scratch = made_logs = None
    try:
        try:
            if log_dir:
                logs = Path(log_dir)
                logs.mkdir(parents=True, exist_ok=True)
            else:
                logs = made_logs = Path(tempfile.mkdtemp(prefix="gan-launch-logs-"))
        except OSError as e:
            raise UserError(f"cannot make the log directory {log_dir} ({e.strerror or e}); choose another") from None
        try:
            # Workers' temporary files (a non-chief's throwaway run directory) go under one directory the launcher
            # removes, so a worker stopped by a signal leaves nothing behind either.
            scratch = tempfile.mkdtemp(prefix="gan-launch-tmp-")
            addresses = [f"{HOST}:{port}" for port in free_ports(n_workers)]
            workers = [Worker(i, addresses[i], None if i == 0 else logs / f"worker-{i}.log") for i in range(n_workers)]
            for w in workers:
                env = {**os.environ, "TF_CONFIG": tf_config(addresses, w.index), "TMPDIR": scratch}
                where = "this console" if w.log is None else str(w.log)
                chief = ", chief" if w.index == 0 else ""
                print(f"worker {w.index} ({w.address}{chief}): output to {where}", flush=True)
                out = None if w.log is None else open(w.log, "w")
                try:
                    stderr = subprocess.STDOUT if out else None
                    procs.append(subprocess.Popen(command, env=env, stdout=out, stderr=stderr))
                finally:
                    if out is not None:
                        out.close()  # the child holds its own copy
        except OSError as e:  # out of ports, descriptors or processes
            raise UserError(
                f"cannot start {n_workers} workers ({e.strerror or e}; {len(procs)} had started and were stopped); "
                "use fewer --workers"
            ) from None
        return _wait(workers, procs)
    finally:
        _stop(procs)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        if made_logs is not None and not procs:  # no worker wrote a log
            shutil.rmtree(made_logs, ignore_errors=True)


def _wait(workers: list[Worker], procs: list[subprocess.Popen]) -> int:
    """Polls until every worker exits 0, or raises at the first that fails.

    On SIGTERM/SIGINT to the launcher, each worker gets SIGTERM: they agree on a step, save a checkpoint there and
    exit with 128 + the signal (engine.run.stopping); the launcher waits for that (SAVE_GRACE_S at most), then raises
    Stopped. A worker that exits so on its own (someone signalled it) is waited for the same way.

    Raises:
      UserError: a worker exited non-zero otherwise, or was killed (naming it and its log); the others were stopped.
      Stopped: the workers stopped on a signal after saving.
    """
    forwarded = None
    while True:
        codes = [p.poll() for p in procs]
        stopping = _SIGNALLED or any(code in SAVED_CODES for code in codes)
        for w, code in zip(workers, codes, strict=False):
            if code is not None and code != 0 and not (stopping and code in SAVED_CODES):
                why = (
                    f"was killed by {signal.Signals(-code).name}"
                    if code < 0 and -code in signal.valid_signals()
                    else f"exited with {code}"
                )
                where = "its output is above" if w.log is None else f"its log: {w.log}"
                raise UserError(f"worker {w.index} {why}; {where} (the other workers were stopped)")
        if all(code is not None for code in codes) and stopping:
            raise Stopped(
                "stopped: the workers saved a checkpoint at one step; run the same command with --resume to continue",
                max(c for c in codes if c is not None) or 143,
            )
        if all(code == 0 for code in codes):
            return 0
        if _SIGNALLED and forwarded is None:
            forwarded = time.monotonic()
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
        if forwarded is not None and time.monotonic() - forwarded > SAVE_GRACE_S:
            raise UserError(
                f"the workers did not stop within {SAVE_GRACE_S:.0f} s of the signal; they were killed "
                "(the latest checkpoint is the last complete one)"
            )
        time.sleep(0.2)


def _stop(procs: list[subprocess.Popen]) -> None:
    """Terminates every worker still running, then kills those that ignore it."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _signalled(signum, frame):
    global _SIGNALLED
    _SIGNALLED = signum  # _wait forwards it to the workers, which save and stop together


def main(argv=None) -> int:
    args, train_args = parse_args(argv)
    signal.signal(signal.SIGTERM, _signalled)
    signal.signal(signal.SIGINT, _signalled)
    return launch(args.workers, train_args, log_dir=args.log_dir)


if __name__ == "__main__":
    run_cli(main)
