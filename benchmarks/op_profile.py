"""Where the engine's training step spends its time: a TensorFlow profiler trace reduced to an op-level table.

Usage: python -m benchmarks.op_profile [--preset dcgan_fashion] [--batch 128] [--steps-per-call 8]
                                       [--precision float32|mixed_bfloat16|...] [--compare-dropout]
Traces `calls` calls of the engine's step after a warm-up, reads the trace's XSpace protobuf and sums the
durations of the kernels TensorFlow ran (events named `node:OpType` on its compute threads) by op type and by
node. Kernel time is summed over threads, so it can exceed the wall time when ops run concurrently.
`--compare-dropout` instead times the step with Keras's Dropout in D against the engine's (engine.models.layers).
"""

import argparse
import collections
import contextlib
import dataclasses
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

from benchmarks.child import child_env


def kernel_times(xplane_path: str) -> dict[str, float]:
    """{node name:op type: total ms} over the host plane's TensorFlow compute events."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    with open(xplane_path, "rb") as f:
        space.ParseFromString(f.read())
    totals: dict[str, float] = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name and "/" in name:  # kernels are "node:OpType"; executor wrappers are not
                    totals[name] += event.duration_ps / 1e9
    return dict(totals)


def op_table(times: dict[str, float], steps: int, wall_s: float, top: int = 12) -> str:
    """Markdown: kernel time per step by op type (oneDNN's fused names kept) and the slowest nodes."""
    by_type: dict[str, float] = collections.Counter()
    for name, ms in times.items():
        by_type[name.rsplit(":", 1)[1]] += ms
    total = sum(by_type.values())
    lines = [
        f"Traced {steps} steps: {1e3 * wall_s / steps:.1f} ms wall per step, {total / steps:.1f} ms of kernel "
        "time per step (summed over threads).",
        "",
        "| op type | ms/step | share of kernel time |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {op} | {ms / steps:.1f} | {100 * ms / total:.1f}% |"
        for op, ms in sorted(by_type.items(), key=lambda kv: -kv[1])[:top]
    ]
    lines += ["", "| slowest nodes | ms/step |", "|---|---:|"]
    lines += [
        f"| `{name.replace('while/body/', '')[-110:]}` | {ms / steps:.1f} |"
        for name, ms in sorted(times.items(), key=lambda kv: -kv[1])[:top]
    ]
    return "\n".join(lines)


def profile_step(preset: str, batch: int, steps_per_call: int, calls: int = 2, precision: str = "float32") -> str:
    """Traces the engine's step (default strategy, no XLA) and returns the op table in Markdown."""
    import tensorflow as tf

    from benchmarks.throughput_runners import load_images
    from engine.config import with_update_order
    from engine.run.stepper import make_stepper
    from engine.step.gan import GAN

    base, data = load_images(preset)
    # The simultaneous order, as the throughput benchmark's engine rows (dcgan_fashion as published alternates).
    cfg = dataclasses.replace(with_update_order(base, "simultaneous"), batch_size=batch, precision=precision)
    stepper = make_stepper(GAN(cfg), data, tf.distribute.get_strategy(), jit_compile=False)
    n = tf.constant(steps_per_call)
    stepper(n)["d_loss"].numpy()  # trace and warm up outside the profile
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        for _ in range(calls):
            out = stepper(n)
        out["d_loss"].numpy()
        wall = time.perf_counter() - start
        tf.profiler.experimental.stop()
        [path] = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
        times = kernel_times(path)
    header = (
        f"Engine step, {preset}, batch {batch}, {steps_per_call} steps/call, {cfg.update_order}, XLA off, {precision} "
        "(TF profiler).\n\n"
    )
    return header + op_table(times, calls * steps_per_call, wall)


@contextlib.contextmanager
def keras_dropout():
    """Inside the block the families build Keras's own Dropout where they use the engine's (engine.models.layers)."""
    import keras

    from engine import models
    from engine.models import layers

    families = [m for m in sys.modules.values() if m and getattr(m, "__name__", "").startswith(models.__name__)]
    patched = [m for m in families if getattr(m, "Dropout", None) is layers.Dropout and m is not layers]
    for module in patched:
        module.Dropout = keras.layers.Dropout
    try:
        yield
    finally:
        for module in patched:
            module.Dropout = layers.Dropout


def compare_dropout(preset: str, batch: int, steps_per_call: int, precision: str, rounds: int = 6) -> str:
    """The engine step with Keras's Dropout in D and with the engine's, timed in alternating windows (A B B A ...)
    in one process; returns a Markdown line with both images/s and their ratio."""
    import statistics

    import tensorflow as tf

    from benchmarks.precision_compare import alternate
    from benchmarks.throughput_runners import load_images, window_steps
    from engine.config import with_update_order
    from engine.run.stepper import make_stepper
    from engine.step.gan import GAN

    base, data = load_images(preset)
    cfg = dataclasses.replace(with_update_order(base, "simultaneous"), batch_size=batch, precision=precision)

    def runner():
        stepper = make_stepper(GAN(cfg), data, tf.distribute.get_strategy(), jit_compile=False)
        n = tf.constant(steps_per_call)

        def run(steps):
            for _ in range(steps // steps_per_call):
                out = stepper(n)
            out["d_loss"].numpy()

        return run

    with keras_dropout():
        theirs = runner()
    runs = {"keras": theirs, "engine": runner()}
    steps = window_steps(batch, steps_per_call, 1024)
    _, times = alternate(runs, steps, rounds)
    ips = {k: steps * batch / statistics.median(t) for k, t in times.items()}
    rounds_ratio = [a / b for a, b in zip(times["keras"], times["engine"], strict=True)]
    return (
        f"| {preset} | {batch} | {precision} | {ips['keras']:,.0f} | {ips['engine']:,.0f} | "
        f"{ips['engine'] / ips['keras']:.2f}x | {min(rounds_ratio):.2f}-{max(rounds_ratio):.2f} |"
    )


def profile_in_child(preset: str, batch: int, steps_per_call: int) -> str:
    """Runs `profile_step` in a fresh process (the benchmark's parent process never starts TensorFlow)."""
    args = [
        sys.executable,
        "-m",
        "benchmarks.op_profile",
        "--preset",
        preset,
        "--batch",
        str(batch),
        "--steps-per-call",
        str(steps_per_call),
        "--json",
    ]
    out = subprocess.run(args, env=child_env(), capture_output=True, text=True)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return f"profile failed: {(out.stderr.strip().splitlines() or ['no output'])[-1]}"
    return json.loads(lines[-1])["markdown"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.op_profile", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="dcgan_fashion")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps-per-call", type=int, default=8)
    parser.add_argument("--precision", default="float32", help="Keras policy of G and D (default float32)")
    parser.add_argument(
        "--compare-dropout",
        action="store_true",
        help="instead of profiling, time the step with Keras's Dropout in D against the engine's (alternating windows)",
    )
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compare_dropout:
        print(
            "| preset | batch | precision | Keras Dropout images/s | engine Dropout images/s | engine / Keras | "
            "per-round range |\n|---|---:|---|---:|---:|---:|---:|"
        )
        print(compare_dropout(args.preset, args.batch, args.steps_per_call, args.precision))
        return
    markdown = profile_step(args.preset, args.batch, args.steps_per_call, precision=args.precision)
    print(json.dumps({"markdown": markdown}) if args.json else markdown)


if __name__ == "__main__":
    from engine.errors import run_cli  # a UserError (e.g. --batch -1) is one line, not a traceback

    run_cli(main)
