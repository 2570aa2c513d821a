"""What a run logs: metrics as JSON lines plus TensorBoard scalars, and trimming both back to a resumed step."""

import json
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from engine.errors import UserError
from engine.run.layout import METRICS, TENSORBOARD


def trim_log(path: Path, step: int) -> None:
    """Drops records past `step` (written after the checkpoint a resumed run restarts from), and lines that are not
    a record (cut short by a kill, or damaged bytes), atomically.

    Raises:
      UserError: the log is not a file, or cannot be rewritten.
    """
    if not path.exists():
        return
    try:
        lines = path.read_bytes().splitlines(keepends=True)  # bytes: a damaged tail need not be UTF-8
    except OSError as e:
        raise UserError(
            f"{path} cannot be read ({e.strerror or type(e).__name__}); it is the run's metrics log: restore or "
            "remove it, then resume again"
        ) from None
    kept = [line if line.endswith(b"\n") else line + b"\n" for line in lines if _record_step(line) <= step]
    if kept != lines:
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_bytes(b"".join(kept))
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise UserError(
                f"cannot rewrite {path} ({e.strerror}); the run is unchanged: free space and resume again"
            ) from None
        tmp.replace(path)


def trim_tensorboard(directory: Path, step: int) -> None:
    """Drops TensorBoard events past `step` from the run's event files, as `trim_log` does for metrics.jsonl.

    Event files are TFRecord files of `Event` protos: each is read up to its first damaged record (a killed run's
    tail) and rewritten, atomically, with the events at or before `step`.
    """
    from google.protobuf.message import DecodeError
    from tensorflow.core.util import event_pb2

    for path in sorted(directory.glob("events.out.tfevents.*")):
        if not path.is_file():
            continue
        kept, dropped = [], 0
        try:
            for record in tf.data.TFRecordDataset(str(path)):
                event = event_pb2.Event.FromString(record.numpy())
                if event.step <= step:
                    kept.append(record.numpy())
                else:
                    dropped += 1
        except (tf.errors.OpError, DecodeError):  # DataLossError: a record cut short by the kill; others: damaged
            dropped += 1
        if dropped:
            tmp = path.with_name(path.name + ".tmp")
            with tf.io.TFRecordWriter(str(tmp)) as writer:
                for record in kept:
                    writer.write(record)
            tmp.replace(path)


def _record_step(line: bytes) -> float:
    try:
        step = json.loads(line)["step"]
    except (ValueError, KeyError, TypeError, RecursionError):  # ValueError: not JSON, not UTF-8
        return float("inf")  # a line cut short by a kill, or damaged
    return step if isinstance(step, (int, float)) and not isinstance(step, bool) else float("inf")


def _finite_or_null(value):
    """`value` with every non-finite float (at any depth) replaced by None."""
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(v) for v in value]
    return None if isinstance(value, float) and not np.isfinite(value) else value


class RunLog:
    """Metrics as JSON lines plus TensorBoard scalars."""

    def __init__(self, run_dir: Path):
        try:
            self._file = open(run_dir / METRICS, "a")
        except OSError as e:
            raise UserError(
                f"cannot open {run_dir / METRICS} to append to it ({e.strerror or type(e).__name__}); it "
                "is the run's metrics log: restore or remove it, then run the command again"
            ) from None
        try:
            self._writer = tf.summary.create_file_writer(str(run_dir / TENSORBOARD))
        except (OSError, tf.errors.OpError):  # a full disk: TensorBoard leaves the empty events file it began
            self._file.close()
            for events in (run_dir / TENSORBOARD).glob(f"events.out.tfevents.*.{os.getpid()}.*"):
                if events.stat().st_size == 0:
                    events.unlink()
            raise

    def write(self, step: int, record: dict) -> None:
        # A non-finite loss is written as null: bare NaN is not JSON, and readers of JSON lines would reject the file.
        self._file.write(json.dumps(_finite_or_null({"step": step, **record}), allow_nan=False) + "\n")
        self._file.flush()
        with self._writer.as_default(step=step):
            for key, value in record.items():
                if isinstance(value, (int, float)):
                    tf.summary.scalar(key, value)
        self._writer.flush()

    def close(self) -> None:
        self._file.close()
        self._writer.close()
