"""Latency of every export variant in onnxruntime (CPU EP on 1 and all threads; CUDA and TensorRT EPs where offered),
LiteRT (1 and all threads) and TF SavedModel, against a FLOP floor.

Usage:
  python -m benchmarks.inference [--run-dir DIR] [--runs 30] [--batches 1,16,256] [--out benchmarks/results]
                                 [--float32-only] [--onnx PATH] [--tflite PATH] [--savedmodel PATH]
Exports the run's generator (default runs/latest) in every variant of benchmarks.variants and as a SavedModel to a
temporary directory (or takes the files given), then times every backend on the same fixed inputs (numpy in, numpy
out): 3 warm-up calls, then --runs timed calls; median and p90 latency and images/s (batch / median). The FLOP floor
is the generator's FLOPs per image (benchmarks.flops) x batch over onnxruntime's own measured MatMul peak for the same
thread count, measured in the same run. onnxruntime and LiteRT run through export.runtime (what an app
embedding the generator calls); the SavedModel through its `serving_default` signature. Writes inference.md and
inference.json under --out.
"""

import argparse
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.machine import describe_machine, save_results
from benchmarks.timing import WARMUP, measure  # noqa: F401  (measure: re-exported for tests)
from engine.quiet import quiet_tensorflow

NOT_AVAILABLE = "not available on this machine"
SAVEDMODEL = "savedmodel"  # the one format timed through TensorFlow (its serving signature), not export.runtime


def format_table(rows: list[dict]) -> str:
    """A markdown table, one line per row of `measure` (with `add_floor`'s columns when present)."""
    lines = [
        "| backend | batch | median ms | p90 ms | images/s | FLOP floor ms | x floor |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "unavailable" in r:
            lines.append(f"| {r['backend']} | {r['batch']} | {r['unavailable']} | | | | |")
            continue
        floor = r.get("floor_ms")
        floor_cells = f"{floor:.3f} | {r['median_ms'] / floor:.1f}x" if floor else "n/a | n/a"
        lines.append(
            f"| {r['backend']} | {r['batch']} | {r['median_ms']:.3f} | {r['p90_ms']:.3f} | "
            f"{r['images_per_s']:,.0f} | {floor_cells} |"
        )
    return "\n".join(lines)


def fixed_inputs(meta: dict, batches, seed: int = 0) -> dict[int, dict]:
    """batch -> {"z": float32 [batch, latent_dim] (, "label": int32 [batch])}, drawn once before any timing."""
    from export.verify import random_inputs

    rng = np.random.default_rng(seed)
    return {b: random_inputs(meta, b, rng) for b in batches}


def ort_matmul_peak(
    threads: int, sizes=(256, 512, 1024, 2048), repeats: int = 5, clock: Callable[[], float] = time.perf_counter
) -> float:
    """onnxruntime's float32 MatMul rate on its CPU EP with `threads` intra-op threads, in GFLOP/s.

    The best over sizes and repeats: the peak is what the kernels can do, and noise only slows them down. A ReduceSum
    after the MatMul brings back one number, so copying the product out is not timed.
    """
    import onnxruntime as ort
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", "n"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", "n"])
    out = helper.make_tensor_value_info("s", TensorProto.FLOAT, [])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "y"], ["p"]), helper.make_node("ReduceSum", ["p"], ["s"], keepdims=0)],
        "peak",
        [x, y],
        [out],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    best, rng = 0.0, np.random.default_rng(0)
    for n in sizes:
        feeds = {"x": rng.standard_normal((n, n), np.float32), "y": rng.standard_normal((n, n), np.float32)}
        session.run(None, feeds)
        for _ in range(repeats):
            start = clock()
            session.run(None, feeds)
            best = max(best, 2 * n**3 / (clock() - start) / 1e9)
    return best


def add_floor(rows: list[dict], flops_per_image: int | None, peaks: dict[int, float], threads: dict[str, int]) -> None:
    """Adds "floor_ms" (FLOPs of the batch at the measured peak for the backend's thread count) to timed CPU rows.

    A backend missing from `threads` (a GPU provider, or the SavedModel with TensorFlow's own pools) gets none.
    """
    for r in rows:
        t = threads.get(r["backend"])
        if flops_per_image and "median_ms" in r and t in peaks:
            r["floor_ms"] = flops_per_image * r["batch"] / (peaks[t] * 1e9) * 1e3


def make_backends(
    paths: dict[str, Path], savedmodel_path: Path | None = None, cores: int | None = None
) -> tuple[dict[str, Callable | str], dict[str, int]]:
    """Backends for every variant file x provider, and the CPU thread count of each (for the FLOP floor).

    Args:
      paths: variant name (e.g. "ONNX float32", "TFLite int8") -> .onnx / .tflite file.
    Returns:
      (name -> fn(inputs) -> images or the reason it cannot run here, name -> CPU threads).
    """
    import onnxruntime as ort

    from export.runtime import Generator

    def call(g):
        return lambda x: g(x["z"], x.get("label"))

    cores = cores or os.cpu_count()
    offered = ort.get_available_providers()
    backends, threads = {}, {}
    for variant, path in paths.items():
        settings = [(cores, f"{cores} threads"), (1, "1 thread")]
        if path.suffix == ".onnx":
            for n, label in settings:
                name = f"{variant} / ORT CPU ({label})"
                backends[name] = call(Generator.load(path, providers=["CPUExecutionProvider"], threads=n))
                threads[name] = n
            for provider, short in (("CUDAExecutionProvider", "CUDA"), ("TensorrtExecutionProvider", "TensorRT")):
                name = f"{variant} / ORT {short}"
                if provider not in offered:
                    if variant == next(iter(paths)):  # say it once, not for every variant
                        backends[name] = f"{NOT_AVAILABLE} (onnxruntime offers {', '.join(offered)})"
                    continue
                g = Generator.load(path, providers=[provider, "CPUExecutionProvider"])
                # onnxruntime falls back to CPU with a warning when a provider fails to start; that would mislabel it.
                ok = g.backend.startswith(f"onnxruntime[{provider}")
                backends[name] = call(g) if ok else f"{short} provider failed to start ({g.backend})"
        else:
            for n, label in settings:
                name = f"{variant} / LiteRT ({label})"
                backends[name] = call(Generator.load(path, threads=n))
                threads[name] = n
    if savedmodel_path is not None:
        import tensorflow as tf

        signature = tf.saved_model.load(str(savedmodel_path)).signatures["serving_default"]
        backends["SavedModel float32 / TF"] = lambda x: signature(**{k: tf.constant(v) for k, v in x.items()})[
            "image"
        ].numpy()
    return backends, threads


def run_benchmark(
    run_dir=None,
    *,
    runs: int = 30,
    batches=(1, 16, 256),
    out="benchmarks/results",
    variants: bool = True,
    command: str = "python -m benchmarks.inference",
    **files,
) -> list[dict]:
    """Times every export variant x provider x batch, with a FLOP floor; prints and writes the results.

    With files given (format kind -> path: onnx=, tflite=, savedmodel=; --onnx/--tflite/--savedmodel) only those are
    timed, and without a run there is no generator to count FLOPs on (floor "n/a"). Otherwise the run's generator is
    exported in every variant of benchmarks.variants (float32 only with variants=False) and the SavedModel.
    Returns:
      The rows of `measure`, with "floor_ms" where known.
    Raises:
      UserError: no run to export from, the given files carry different metadata (different generators), or one is
        of a format this benchmark cannot time.
    """
    from engine.errors import UserError
    from export import metadata

    flops = None
    with tempfile.TemporaryDirectory() as tmp:
        if any(files.values()):
            paths, saved = _given(files)
        else:
            paths, saved, flops = _export_run(run_dir, Path(tmp), variants)
        metas = {name: _read_meta(p) for name, p in [*paths.items(), *([("savedmodel", saved)] if saved else [])]}
        first = next(iter(metas.values()))
        if any(_same_generator(m) != _same_generator(first) for m in metas.values()):
            raise UserError(
                "the files carry different metadata, so they are not the same generator: "
                + "; ".join(
                    f"{name}: step {m.get('step')}, checkpoint {str(m.get('checkpoint_sha256'))[:12]}"
                    for name, m in metas.items()
                )
            )
        meta = metadata.check(first)
        backends, threads = make_backends(paths, saved)
        peaks = {t: ort_matmul_peak(t) for t in sorted(set(threads.values()))}
        rows = measure(backends, fixed_inputs(meta, batches), runs)
    add_floor(rows, flops, peaks, threads)
    peak_text = ", ".join(f"{peaks[t]:.1f} GFLOP/s on {t} thread{'s' * (t > 1)}" for t in peaks)
    floor_text = (
        f"{flops / 1e6:.2f} MFLOP/image (benchmarks.flops, multiply-add = 2)"
        if flops
        else "n/a (files given without a run: no generator to count FLOPs on)"
    )
    header = (
        f"# Inference latency, {meta['preset']} generator (step {meta['step']}, "
        f"{meta['latent_dim']} -> {'x'.join(map(str, meta['image_shape']))})\n\n{describe_machine(command)}\n"
        f"- each row: {WARMUP} warm-up calls, then {runs} timed calls on the same fixed inputs, numpy in and "
        "out (onnxruntime and LiteRT via export.runtime, including its input checks)\n"
        f"- graph: {meta.get('graph', 'plain')} (export.optimise; `python -m benchmarks.export_graph` compares it with "
        "the plain one)\n"
        f"- FLOP floor = FLOPs per image x batch / measured peak; FLOPs: {floor_text}; peak: onnxruntime MatMul, "
        f"best of sizes 256-2048: {peak_text} (float32: int8 and float16 rows are held to the float32 peak)\n"
    )
    table = format_table(rows)
    print(header + "\n" + table)
    save_results(
        out,
        "inference",
        header + "\n" + table + "\n",
        {
            "command": command,
            "machine": describe_machine(command),
            "warmup": WARMUP,
            "runs": runs,
            "meta": meta,
            "flops_per_image": flops,
            "peak_gflops": peaks,
            "rows": rows,
        },
    )
    return rows


def timed_kinds() -> list[str]:
    """The formats whose files this benchmark times: those export.runtime runs, and the SavedModel."""
    from benchmarks.variants import runnable_formats

    return sorted([*runnable_formats(), SAVEDMODEL])


def _given(files: dict) -> tuple[dict[str, Path], Path | None]:
    """(variant name -> file, SavedModel) of the files given by format kind; a file is named after its format
    ("ONNX float32")."""
    from benchmarks.variants import runnable_formats
    from engine.errors import UserError

    runnable = runnable_formats()
    for kind in files:
        if kind not in timed_kinds():
            raise UserError(f"cannot time a {kind!r} export; pass files of {', '.join(timed_kinds())}")
    paths = {f"{runnable[kind].name} float32": Path(files[kind]) for kind in runnable if files.get(kind)}
    return paths, Path(files[SAVEDMODEL]) if files.get(SAVEDMODEL) else None


def _export_run(run_dir, tmp: Path, every: bool):
    """(variant paths, SavedModel path, FLOPs per image) of a run's generator exported into `tmp`: every variant of
    benchmarks.variants, or only each format's float32 NHWC file."""
    from benchmarks.flops import forward_flops
    from benchmarks.variants import export_variants, variants
    from engine.run import reading as runread
    from export.savedmodel import write_savedmodel

    generator, meta, _ = runread.load_generator(run_dir)
    offered = variants()
    plain = [name for name, (_, offer) in offered.items() if (offer.variant, offer.layout) == ("float32", "NHWC")]
    names = list(offered) if every else plain
    paths = export_variants(generator, meta, tmp, names)
    return paths, write_savedmodel(generator, meta, tmp / "saved_model"), forward_flops(generator)


def _same_generator(meta: dict) -> dict:
    """The metadata that identifies the generator, not the file's variant or layout."""
    return {k: v for k, v in meta.items() if k not in ("variant", "layout")}


def _read_meta(path: Path) -> dict:
    """The metadata of an export to time (its sidecar, or the ONNX file's own).

    Raises:
      UserError: the file is missing, is not an export, or has no readable sidecar (one line naming it).
    """
    from engine.errors import UserError, first_line, printable_path
    from export import metadata

    try:
        if path.suffix == ".onnx":
            from export.runtime import Generator

            return Generator.load(path, providers=["CPUExecutionProvider"]).meta
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        return metadata.read_sidecar(path)
    except (OSError, ValueError) as e:  # GeneratorFileError is a ValueError; so is a sidecar that is not JSON
        raise UserError(
            f"{printable_path(path)} is not an export this benchmark can time ({type(e).__name__}: {first_line(e)}); "
            "pass a file written by export.onnx, export.tflite or export.savedmodel, with its .json sidecar beside it"
        ) from None


def parse_batches(text: str) -> tuple[int, ...]:
    """ "1,16,256" -> (1, 16, 256); raises argparse.ArgumentTypeError unless all are integers >= 1."""
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
        for kind in timed_kinds():
            parser.add_argument(f"--{kind}", default=None, help=f"use this {kind} export instead of exporting the run")
        parser.add_argument("--float32-only", action="store_true", help="skip the quantised and float16 variants")
        args = parser.parse_args()
        if args.runs < 1:
            parser.error("--runs must be >= 1")
        quiet_tensorflow()
        command = ("python -m benchmarks.inference " + shlex.join(sys.argv[1:])).rstrip()
        run_benchmark(
            args.run_dir,
            runs=args.runs,
            batches=args.batches,
            out=args.out,
            variants=not args.float32_only,
            command=command,
            **{kind: getattr(args, kind) for kind in timed_kinds()},
        )

    run_cli(run)


if __name__ == "__main__":
    main()
