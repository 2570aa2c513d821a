"""Latency of an exported generator in onnxruntime (CPU; CUDA where offered), LiteRT and TF SavedModel.

Usage:
  python -m benchmarks.inference [--run-dir DIR] [--runs 30] [--batches 1,16,256] [--out benchmarks/results]
                                 [--onnx PATH] [--tflite PATH] [--savedmodel PATH]
Exports the run's newest checkpoint (default runs/latest) to a temporary directory in each format not given as a file,
then times every backend on the same fixed inputs (numpy in, numpy out): 3 warm-up calls, then --runs timed calls;
median and p90 latency and images/s (batch / median). onnxruntime and LiteRT run through export.runtime (what an app
embedding the generator calls); the SavedModel through its `serving_default` signature. Writes inference.md and
inference.json under --out.
"""

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from benchmarks.machine import describe_machine

WARMUP = 3
NOT_AVAILABLE = "not available on this machine"


def measure(backends: dict[str, Callable | str], inputs: dict[int, dict], runs: int, *, warmup: int = WARMUP,
            clock: Callable[[], float] = time.perf_counter) -> list[dict]:
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
            rows.append({"backend": name, "batch": batch, "runs": runs, "median_ms": median * 1e3,
                         "p90_ms": float(np.percentile(times, 90)) * 1e3, "images_per_s": batch / median})
    return rows


def format_table(rows: list[dict]) -> str:
    """A markdown table, one line per row of `measure`."""
    lines = ["| backend | batch | median ms | p90 ms | images/s |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        if "unavailable" in r:
            lines.append(f"| {r['backend']} | {r['batch']} | {r['unavailable']} | | |")
        else:
            lines.append(f"| {r['backend']} | {r['batch']} | {r['median_ms']:.3f} | {r['p90_ms']:.3f} | "
                         f"{r['images_per_s']:,.0f} |")
    return "\n".join(lines)


def fixed_inputs(meta: dict, batches, seed: int = 0) -> dict[int, dict]:
    """batch -> {"z": float32 [batch, latent_dim] (, "label": int32 [batch])}, drawn once before any timing."""
    from export.verify import random_inputs

    rng = np.random.default_rng(seed)
    return {b: random_inputs(meta, b, rng) for b in batches}


def make_backends(onnx_path: Path, tflite_path: Path, savedmodel_path: Path) -> dict[str, Callable | str]:
    """name -> fn(inputs) -> images (numpy) for each backend, or the reason it cannot run here."""
    import onnxruntime as ort
    import tensorflow as tf

    from export.runtime import Generator

    def call(g):
        return lambda x: g(x["z"], x.get("label"))

    cores = os.cpu_count()
    backends = {
        f"onnxruntime CPU ({cores} threads)": call(Generator.load(onnx_path, providers=["CPUExecutionProvider"],
                                                                  threads=cores)),
        "onnxruntime CPU (1 thread)": call(Generator.load(onnx_path, providers=["CPUExecutionProvider"], threads=1)),
        "onnxruntime CUDA": f"{NOT_AVAILABLE} (onnxruntime offers {', '.join(ort.get_available_providers())})",
    }
    if "CUDAExecutionProvider" in ort.get_available_providers():
        cuda = Generator.load(onnx_path, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
        # onnxruntime falls back to CPU with a warning when CUDA fails to start; that would mislabel the row.
        ok = cuda.backend.startswith("onnxruntime[CUDAExecutionProvider")
        backends["onnxruntime CUDA"] = call(cuda) if ok else f"CUDA provider failed to start ({cuda.backend})"
    backends[f"LiteRT ({cores} threads)"] = call(Generator.load(tflite_path, threads=cores))
    signature = tf.saved_model.load(str(savedmodel_path)).signatures["serving_default"]
    backends["TF SavedModel"] = lambda x: signature(**{k: tf.constant(v) for k, v in x.items()})["image"].numpy()
    return backends


def run_benchmark(run_dir=None, *, runs: int = 30, batches=(1, 16, 256), out="benchmarks/results", onnx=None,
                  tflite=None, savedmodel=None, command: str = "python -m benchmarks.inference") -> list[dict]:
    """Exports (formats not given as paths) from `run_dir`, times every backend, prints and writes the results.

    Returns:
      The rows of `measure`.
    Raises:
      UserError: no run to export from, or the given files carry different metadata (different generators).
    """
    from engine.errors import UserError
    from export import metadata
    from export.onnx import export_onnx
    from export.savedmodel import export_savedmodel
    from export.tflite import export_tflite

    with tempfile.TemporaryDirectory() as tmp:
        exporters = {"onnx": (onnx, export_onnx, "g.onnx"), "tflite": (tflite, export_tflite, "g.tflite"),
                     "savedmodel": (savedmodel, export_savedmodel, "saved_model")}
        paths = {fmt: Path(given) if given else export(run_dir, Path(tmp) / name)
                 for fmt, (given, export, name) in exporters.items()}
        metas = {fmt: _read_meta(path) for fmt, path in paths.items()}
        if any(m != metas["onnx"] for m in metas.values()):
            raise UserError("the files carry different metadata, so they are not the same generator: "
                            + "; ".join(f"{fmt}: step {m.get('step')}, checkpoint {str(m.get('checkpoint_sha256'))[:12]}"
                                        for fmt, m in metas.items()))
        meta = metadata.check(metas["onnx"])
        rows = measure(make_backends(paths["onnx"], paths["tflite"], paths["savedmodel"]),
                       fixed_inputs(meta, batches), runs)
    header = (f"# Inference latency, {meta['preset']} generator (step {meta['step']}, "
              f"{meta['latent_dim']} -> {'x'.join(map(str, meta['image_shape']))})\n\n{describe_machine(command)}\n"
              f"- each row: {WARMUP} warm-up calls, then {runs} timed calls on the same fixed inputs, numpy in and "
              "out (onnxruntime and LiteRT via export.runtime, including its input checks)\n")
    table = format_table(rows)
    print(header + "\n" + table)
    write_results(Path(out), header + "\n" + table + "\n",
                  {"command": command, "machine": describe_machine(command), "warmup": WARMUP, "runs": runs,
                   "meta": meta, "rows": rows})
    return rows


def _read_meta(path: Path) -> dict:
    if path.suffix == ".onnx":
        from export.runtime import Generator

        return Generator.load(path, providers=["CPUExecutionProvider"]).meta
    from export import metadata

    return metadata.read_sidecar(path)


def write_results(out: Path, markdown: str, record: dict) -> tuple[Path, Path]:
    """Writes `<out>/inference.md` and `<out>/inference.json`; returns both paths."""
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "inference.md", out / "inference.json"
    md.write_text(markdown)
    js.write_text(json.dumps(record, indent=2) + "\n")
    return md, js


def parse_batches(text: str) -> tuple[int, ...]:
    """"1,16,256" -> (1, 16, 256); raises argparse.ArgumentTypeError unless all are integers >= 1."""
    try:
        batches = tuple(int(b) for b in text.split(","))
    except ValueError:
        batches = ()
    if not batches or min(batches) < 1:
        raise argparse.ArgumentTypeError(f"--batches must be comma-separated integers >= 1, got {text!r}")
    return batches


def main() -> None:
    from engine.errors import run_cli

    def run():
        parser = argparse.ArgumentParser(prog="python -m benchmarks.inference", description=__doc__.split("\n")[0])
        parser.add_argument("--run-dir", default=None, help="run to export from (default runs/latest)")
        parser.add_argument("--runs", type=int, default=30, help="timed calls per backend and batch (default 30)")
        parser.add_argument("--batches", type=parse_batches, default=(1, 16, 256), help="default 1,16,256")
        parser.add_argument("--out", default="benchmarks/results", help="where inference.md/.json go")
        for fmt in ("onnx", "tflite", "savedmodel"):
            parser.add_argument(f"--{fmt}", default=None, help=f"use this {fmt} export instead of exporting the run")
        args = parser.parse_args()
        if args.runs < 1:
            parser.error("--runs must be >= 1")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        command = ("python -m benchmarks.inference " + shlex.join(sys.argv[1:])).rstrip()
        run_benchmark(args.run_dir, runs=args.runs, batches=args.batches, out=args.out, onnx=args.onnx,
                      tflite=args.tflite, savedmodel=args.savedmodel, command=command)

    run_cli(run)


if __name__ == "__main__":
    main()
