"""Timing calls of a backend: warm-up, then medians and p90 of repeated calls (shared by inference and variants)."""

import time
from collections.abc import Callable

import numpy as np

WARMUP = 3


def measure(
    backends: dict[str, Callable | str],
    inputs: dict[int, dict],
    runs: int,
    *,
    warmup: int = WARMUP,
    clock: Callable[[], float] = time.perf_counter,
) -> list[dict]:
    """Times `fn(inputs[batch])` for every backend and batch.

    Args:
      backends: name -> fn(inputs) -> images, or name -> a string saying why that backend cannot run here.
      inputs: batch size -> the inputs dict (`z`, maybe `label`); the same object goes to every backend.
      runs: timed calls per (backend, batch), after `warmup` untimed ones.
      clock: seconds; injectable so tests can use a fake one.
    Returns:
      One row per (backend, batch), in order: {"backend", "batch", "runs", "median_ms", "p90_ms", "images_per_s"}
      (p90 by numpy's linear interpolation), or {"backend", "batch", "unavailable": reason}.
    """
    rows = []
    for name, fn in backends.items():
        for batch, x in inputs.items():
            if isinstance(fn, str):
                rows.append({"backend": name, "batch": batch, "unavailable": fn})
                continue
            for _ in range(warmup):  # first calls allocate buffers / pick kernels
                fn(x)
            times = np.empty(runs)
            for i in range(runs):
                start = clock()
                fn(x)
                times[i] = clock() - start
            median = float(np.median(times))
            rows.append(
                {
                    "backend": name,
                    "batch": batch,
                    "runs": runs,
                    "median_ms": median * 1e3,
                    "p90_ms": float(np.percentile(times, 90)) * 1e3,
                    "images_per_s": batch / median,
                }
            )
    return rows
