"""The variant table: every export variant's size, error against the float32 Keras generator, latency and quality cost.

Usage:
  python -m benchmarks.variants [--run-dir DIR] [--samples 10000] [--runs 30] [--out benchmarks/results] [--quick]
                                [--with-rejected] [--data-dir DIR] [--cache-dir DIR]
Exports the run's generator (default runs/latest) in every variant to a temporary directory (each verified within its
budget by its exporter), then, for each file through export.runtime: its size; max and mean abs error against Keras
on the same --samples latents (and cycled labels); median latency at batch 1 and 256 on all cores (onnxruntime CPU EP
or LiteRT); and FID of those --samples images against the dataset's test split (engine.quality.report), as a delta to
the float32 Keras generator's FID on the same latents. --quick: 512 samples, 5 timed runs (a smoke run, not a
measurement). --with-rejected adds onnxruntime's static QDQ quantisation, which export.onnx does not offer.
Writes variants.md and variants.json under --out.
"""

import argparse
import os
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.machine import describe_machine, save_results
from engine.quiet import quiet_tensorflow

REJECTED = ("ONNX static QDQ (onnxruntime quantize_static, not offered)",)
LATENCY_BATCHES = (1, 256)


def runnable_formats() -> dict:
    """Kind -> Format of the registered formats (export.common.formats) whose files export.runtime runs."""
    from export.common import formats
    from export.runtime import SUFFIXES
    from export.target import KINDS

    return {kind: fmt for kind, fmt in formats().items() if KINDS.get_or_fail(kind).suffix in SUFFIXES}


def variants() -> dict:
    """Label -> (Format, Offer) of every file a runnable format offers, in the order of the table: "ONNX float32",
    "ONNX float16 (--fp16)", ..., "TFLite int8" (each format's offers, export.common.Offer)."""
    return {offer.label(fmt): (fmt, offer) for fmt in runnable_formats().values() for offer in fmt.offers}


def export_variants(generator, meta: dict, out_dir: Path, names, *, calibration: int = 512) -> dict[str, Path]:
    """Writes each named variant (of variants(), or REJECTED) under `out_dir`; returns name -> path.

    `calibration` replaces the calibration count of the offers that take one (TFLite's)."""
    from export.common import write_export
    from export.target import KINDS

    offered = variants()
    paths = {}
    for i, name in enumerate(names):
        if name in REJECTED:
            paths[name] = _write_static_qdq(generator, meta, out_dir / f"v{i}.onnx", calibration)
            continue
        fmt, offer = offered[name]
        options = {**offer.options, **({"calibration": calibration} if "calibration" in offer.options else {})}
        path = out_dir / f"v{i}{KINDS.get_or_fail(fmt.kind).suffix}"
        written = write_export(fmt, generator, meta, path, variant=offer.variant, layout=offer.layout, options=options)
        paths[name] = written
    return paths


def _write_static_qdq(generator, meta: dict, path: Path, calibration: int) -> Path:
    """onnxruntime's static QDQ quantisation, unverified (it is measured here to show why it is not offered)."""
    import onnx

    from export import metadata
    from export.onnx import convert, quantize_static_qdq, set_metadata

    meta = metadata.for_variant(meta, variant="int8")
    with tempfile.TemporaryDirectory() as tmp:
        model = quantize_static_qdq(convert(generator, meta), meta, Path(tmp), calibration)
    set_metadata(model, meta)
    onnx.save(model, str(path))
    return path


def generate(fn, z: np.ndarray, labels, batch: int = 256) -> np.ndarray:
    """fn(z, labels) over z in batches, concatenated."""
    parts = [fn(z[i : i + batch], None if labels is None else labels[i : i + batch]) for i in range(0, len(z), batch)]
    return np.concatenate(parts)


def quality(images, labels, *, dataset: str, output_range, data_dir, cache_dir, notes: list) -> float | None:
    """FID against the dataset's test split, or None (with the reason appended to `notes`) when it cannot be had."""
    from engine.errors import UserError

    try:
        from engine.quality.report import evaluate_images

        return float(
            evaluate_images(
                images,
                dataset=dataset,
                output_range=output_range,
                labels=labels,
                data_dir=data_dir,
                cache_dir=cache_dir,
            )["fid"]
        )
    except (ImportError, UserError) as e:  # e.g. no trained evaluator yet: the rest of the table still stands
        if str(e) not in notes:
            notes.append(str(e))
        return None


def run_variants(
    run_dir=None,
    *,
    samples: int = 10000,
    runs: int = 30,
    out="benchmarks/results",
    with_rejected: bool = False,
    data_dir=None,
    cache_dir=None,
    calibration: int = 512,
    command: str = "python -m benchmarks.variants",
) -> list[dict]:
    """Exports every variant of a run and measures it; prints and writes the table. Returns its rows."""
    from benchmarks.timing import measure
    from engine.run import reading as runread
    from export.runtime import Generator
    from export.verify import keras_reference, random_inputs

    run_path = runread.resolve(run_dir)
    cfg, _, _ = runread.read_run(run_path)
    generator, meta, _ = runread.load_generator(run_path)
    inputs = random_inputs(meta, samples, np.random.default_rng(0))
    z, labels = inputs["z"], inputs.get("label")
    keras_fn = lambda zb, lb: keras_reference(generator, {"z": zb, **({"label": lb} if lb is not None else {})})
    reference = generate(keras_fn, z, labels)
    notes = []
    fid_kwargs = dict(
        dataset=cfg.dataset, output_range=meta["output_range"], data_dir=data_dir, cache_dir=cache_dir, notes=notes
    )
    base_fid = quality(reference, labels, **fid_kwargs)
    rows = [{"variant": "Keras float32 (reference)", "fid": base_fid}]
    names = list(variants()) + (list(REJECTED) if with_rejected else [])
    timing = {b: random_inputs(meta, b, np.random.default_rng(1)) for b in LATENCY_BATCHES}
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in export_variants(generator, meta, Path(tmp), names, calibration=calibration).items():
            g = Generator.load(path, threads=os.cpu_count())
            images = g.to_nhwc(generate(g, z, labels))
            err = np.abs(images.astype(np.float64) - reference)
            latency = measure({name: lambda x, g=g: g(x["z"], x.get("label"))}, timing, runs)
            fid = quality(images, labels, **fid_kwargs)
            rows.append(
                {
                    "variant": name,
                    "file_bytes": path.stat().st_size,
                    "max_abs_error": float(err.max()),
                    "mean_abs_error": float(err.mean()),
                    "backend": g.backend,
                    **{f"batch_{r['batch']}_ms": r["median_ms"] for r in latency},
                    "fid": fid,
                    "fid_delta": None if fid is None or base_fid is None else fid - base_fid,
                }
            )
    header = (
        f"# Export variants, {meta['preset']} generator (step {meta['step']})\n\n{describe_machine(command)}\n"
        f"- errors and FID over the same {samples} latents (seed 0) for every variant; latency: median of "
        f"{runs} calls after 3 warm-up, {os.cpu_count()} threads, through export.runtime\n"
        + "".join(f"- FID n/a: {note}\n" for note in notes)
    )
    table = format_table(rows)
    print(header + "\n" + table)
    save_results(
        out,
        "variants",
        header + "\n" + table + "\n",
        {"command": command, "samples": samples, "runs": runs, "meta": meta, "rows": rows},
    )
    return rows


def format_table(rows: list[dict]) -> str:
    """Markdown: variant | size | max/mean abs error | batch-1/256 ms | FID | FID delta."""

    def num(v, fmt):
        return "n/a" if v is None else format(v, fmt)

    lines = [
        "| variant | size KB | max abs err | mean abs err | batch 1 ms | batch 256 ms | FID | FID delta |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "file_bytes" not in r:
            lines.append(f"| {r['variant']} | | | | | | {num(r['fid'], '.2f')} | 0 |")
            continue
        lines.append(
            f"| {r['variant']} | {r['file_bytes'] / 1024:,.0f} | {r['max_abs_error']:.2e} | "
            f"{r['mean_abs_error']:.2e} | {r['batch_1_ms']:.3f} | {r['batch_256_ms']:.2f} | "
            f"{num(r['fid'], '.2f')} | {num(r['fid_delta'], '+.2f')} |"
        )
    return "\n".join(lines)


def main() -> None:
    from engine.errors import run_cli

    def run():
        parser = argparse.ArgumentParser(prog="python -m benchmarks.variants", description=__doc__.split("\n")[0])
        parser.add_argument("--run-dir", default=None, help="run to export from (default runs/latest)")
        parser.add_argument("--samples", type=int, default=10000, help="latents for errors and FID (default 10000)")
        parser.add_argument("--runs", type=int, default=30, help="timed calls per batch (default 30)")
        parser.add_argument("--out", default="benchmarks/results", help="where variants.md/.json go")
        parser.add_argument("--quick", action="store_true", help="512 samples, 5 runs: a smoke run")
        parser.add_argument("--with-rejected", action="store_true", help="also onnxruntime static QDQ")
        parser.add_argument("--data-dir", default=None, help="dataset files for FID (default: the usual search)")
        parser.add_argument("--cache-dir", default=None, help="engine.quality's evaluator cache")
        args = parser.parse_args()
        if args.quick:
            args.samples, args.runs = 512, 5
        if args.samples < 2 or args.runs < 1:
            parser.error("--samples must be >= 2 and --runs >= 1")
        quiet_tensorflow()
        command = ("python -m benchmarks.variants " + shlex.join(sys.argv[1:])).rstrip()
        run_variants(
            args.run_dir,
            samples=args.samples,
            runs=args.runs,
            out=args.out,
            with_rejected=args.with_rejected,
            data_dir=args.data_dir,
            cache_dir=args.cache_dir,
            command=command,
        )

    run_cli(run)


if __name__ == "__main__":
    main()
