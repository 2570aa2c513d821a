"""Training-step throughput of the engine under the settings the defaults were chosen from.

Usage: python -m benchmarks.train_step [--quick] [--out benchmarks/results]
Each configuration runs in its own process (logical CPU devices and thread pools are fixed when TensorFlow starts)
on real Fashion-MNIST batches: compile (first call) is timed separately, then images/s is the median of 5 timed
windows. Writes train_step.md and train_step.json.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.machine import describe_machine

# (strategy, jit, batch, steps per loop, update order)
CONFIGS = [
    ("default", False, 128, 1, "simultaneous"),
    ("default", True, 128, 1, "simultaneous"),
    ("default", False, 128, 10, "simultaneous"),
    ("default", True, 128, 10, "simultaneous"),
    ("mirrored", False, 128, 10, "simultaneous"),
    ("default", False, 128, 10, "alternating"),
    ("default", False, 64, 10, "simultaneous"),
    ("default", False, 256, 10, "simultaneous"),
]
QUICK = [CONFIGS[0], CONFIGS[4]]


def measure(strategy: str, jit: bool, batch: int, steps_per_loop: int, order: str, windows: int, window_images: int,
            shared_pool: bool = False) -> dict:
    """Runs in the child process: builds the engine's step and times it."""
    import numpy as np

    if strategy == "mirrored" and shared_pool:
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        tf.config.list_logical_devices("CPU")  # starts TensorFlow, so make_strategy keeps the default thread pools
    from engine.distribute import make_strategy

    strat = make_strategy(strategy, 2)
    import dataclasses

    import tensorflow as tf

    from engine.config import get_preset
    from engine.data.pipeline import distribute, make_dataset
    from engine.data.registry import load_dataset
    from engine.gan import GAN
    from engine.steps import make_train_fn

    cfg = dataclasses.replace(get_preset("dcgan_fashion"), batch_size=batch, update_order=order)
    data = load_dataset("fashion_mnist", "train")
    with strat.scope():
        gan = GAN(cfg)
    iterator = iter(distribute(make_dataset(data, global_batch_size=batch, output_range=cfg.output_range, seed=0), strat))
    fn = make_train_fn(gan, strat, global_batch_size=batch, jit_compile=jit)
    n = tf.constant(steps_per_loop)
    start = time.perf_counter()
    fn(iterator, n)["d_loss"].numpy()
    compile_s = time.perf_counter() - start
    calls = max(1, window_images // (batch * steps_per_loop))
    rates = []
    for _ in range(windows):
        start = time.perf_counter()
        for _ in range(calls):
            out = fn(iterator, n)
        out["d_loss"].numpy()
        rates.append(calls * steps_per_loop * batch / (time.perf_counter() - start))
    return {"strategy": strategy + (" (shared thread pool)" if shared_pool else ""), "jit": jit, "batch": batch,
            "steps_per_loop": steps_per_loop, "update_order": order, "compile_s": round(compile_s, 1),
            "images_per_s": round(float(np.median(rates)), 1), "windows": [round(r, 1) for r in rates]}


def run_child(config, windows: int, window_images: int, shared_pool: bool = False) -> dict:
    args = json.dumps([*config, windows, window_images, shared_pool])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, "-m", "benchmarks.train_step", "--child", args], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def format_table(rows: list[dict]) -> str:
    lines = ["| strategy | xla | batch | steps/loop | update order | compile s | images/s (median) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['strategy']} | {'on' if r['jit'] else 'off'} | {r['batch']} | {r['steps_per_loop']} | "
                     f"{r['update_order']} | {r['compile_s']} | {r['images_per_s']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_step", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="two configurations, short windows")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*json.loads(args.child))))
        return
    configs, windows, window_images = (QUICK, 3, 1024) if args.quick else (CONFIGS, 5, 4096)
    rows = []
    for config in configs:
        rows.append(run_child(config, windows, window_images))
        print(format_table(rows[-1:]).splitlines()[-1], flush=True)
        if config[0] == "mirrored" and not args.quick:
            # The same run with TensorFlow's default thread pools, to show what per-replica pools buy.
            rows.append(run_child(config, windows, window_images, shared_pool=True))
            print(format_table(rows[-1:]).splitlines()[-1], flush=True)
    command = "python -m benchmarks.train_step" + (" --quick" if args.quick else "")
    table = format_table(rows)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "train_step_quick" if args.quick else "train_step"
    (out / f"{name}.md").write_text(f"# Training-step throughput, dcgan_fashion\n\n{describe_machine(command)}\n\n{table}\n")
    (out / f"{name}.json").write_text(json.dumps({"command": command, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
