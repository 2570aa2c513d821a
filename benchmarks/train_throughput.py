"""Training throughput side by side: the train_on_batch tutorial idiom, Keras fit, and the engine, with FLOPs,
the measured matmul peak and utilisation.

Usage: python -m benchmarks.train_throughput [--quick] [--presets P,...] [--profile] [--precision P[,P]]
                                             [--out benchmarks/results]

Rows run in child processes, one per (preset, batch, strategy), one row after another (logical CPU devices and
thread pools are fixed when TensorFlow starts, so `mirrored` needs its own). The matmul peak is measured in its own
child at the start and at the end of the run; the best of both is the peak. Writes train_throughput.md/.json and
train_throughput.png (train_throughput_quick.* with --quick). Two policies (`--precision float32,mixed_bfloat16`)
time only the engine rows, under both in one process, alternating (benchmarks/precision_compare.py).
"""

import argparse
import dataclasses
import itertools
import json
import time
from pathlib import Path

from benchmarks.child import many_steps, run_child
from benchmarks.machine import check_complete, describe_machine, plot_or_say, save_results
from benchmarks.throughput_runners import Row
from engine.errors import UserError, run_cli

BATCHES = (32, 64, 128, 256)
# A few s per window at ~30 images/s (dcgan_faces); the 28x28 presets default to 512.
WINDOW_IMAGES = {"dcgan_faces": 128, "folder@64": 256}
WINDOWS = 5
PEAK_SIZES = (1024, 2048, 4096)
TARGETS = (
    "engine >= every other row and >= 1.2x the tutorial idiom at every batch; utilisation >= 75% at batch >= 128, "
    ">= 50% at batch 32"
)


def full_plan() -> list[Row]:
    """Every row of the full run (~25 min on a quiet 2-core CPU, estimated from contended quick runs).

    dcgan_fashion gets every row at every batch; alphabet only the tutorial idiom, Keras fit and the engine with
    many steps per call and no XLA; dcgan_faces (40x40x3, ~11 GFLOP per image) batches 32 and 64 with one step per
    call, since its windows take seconds per step here.
    """
    rows = []
    for b in BATCHES:
        k = many_steps(b)
        loops = sorted({1, 8, k}) if b == 32 else sorted({1, k})  # the 1/8/32 sweep where Python costs most
        rows += [Row("dcgan_fashion", b, "pipeline"), Row("dcgan_fashion", b, "tutorial")]
        rows += [Row("dcgan_fashion", b, "fit", jit, s) for jit in (False, True) for s in sorted({1, k})]
        rows += [Row("dcgan_fashion", b, "engine", jit, s) for jit in (False, True) for s in loops]
        rows += [
            Row("dcgan_fashion", b, "engine", False, k, strategy="mirrored"),
            Row("dcgan_fashion", b, "engine", False, k, update_order="alternating"),
        ]
        rows += [
            Row("alphabet", b, "tutorial"),
            Row("alphabet", b, "fit", False, k),
            Row("alphabet", b, "engine", False, k),
        ]
    for b in (32, 64):  # ~10 GFLOP per image: larger batches would take minutes per window here
        rows += [
            Row("dcgan_faces", b, "tutorial"),
            Row("dcgan_faces", b, "fit", False, 1),
            Row("dcgan_faces", b, "engine", False, 1),
        ]
    return rows


def any_size_rows(presets: list[str]) -> list[Row]:
    """The engine row, batch 32, many steps per call, of each `PRESET@N` named: an any-size preset (e.g. the folder
    default) at NxNx3 on synthetic images (`--presets folder@32,folder@64`); not in the full plan."""
    return [Row(p, 32, "engine", False, many_steps(32)) for p in presets if "@" in p]


def quick_plan() -> list[Row]:
    """dcgan_fashion at batch 64 and 256, one row of each kind, plus mirrored for the 1-vs-2-replica plot."""
    rows = []
    for b in (64, 256):
        k = many_steps(b)
        rows += [
            Row("dcgan_fashion", b, "pipeline"),
            Row("dcgan_fashion", b, "tutorial"),
            Row("dcgan_fashion", b, "fit", False, k),
            Row("dcgan_fashion", b, "engine", False, k),
            Row("dcgan_fashion", b, "engine", False, k, strategy="mirrored"),
        ]
    return rows


# ---- child processes ----


def child_main(payload: dict) -> None:
    if payload["task"] in ("pair", "pair_matmul"):
        from benchmarks.precision_compare import child_main as compare_child

        compare_child(payload)
        return
    if payload["task"] == "peak":
        from benchmarks.flops import measure_matmul_peak

        print(json.dumps({"peak_gflops": measure_matmul_peak(tuple(payload["sizes"]), repeats=3)}), flush=True)
        return
    rows = [Row(**r) for r in payload["rows"]]
    from engine.cluster.strategies import (
        make_strategy,  # before any other TensorFlow work: it fixes the logical devices
    )

    strategy = make_strategy(rows[0].strategy, 2)
    from benchmarks.throughput_runners import measure

    for row in rows:
        try:
            result = measure(row, windows=payload["windows"], window_images=payload["window_images"], strategy=strategy)
        except Exception as e:  # one failing row (e.g. XLA refusing a graph) must not lose the others
            result = {**dataclasses.asdict(row), "label": row.label, "error": f"{type(e).__name__}: {e}"[:300]}
        print(json.dumps(result), flush=True)


def measure_peak(sizes) -> float:
    return run_child({"task": "peak", "sizes": list(sizes)})[0]["peak_gflops"]


def run_plan(rows: list[Row], windows: int, window_images: int | None, log=print) -> list[dict]:
    results = []
    groups: dict[tuple, list[Row]] = {}
    for row in rows:
        groups.setdefault((row.preset, row.batch, row.strategy), []).append(row)
    for (preset, _, _), group in groups.items():
        images = window_images or WINDOW_IMAGES.get(preset, 512)
        for result in run_child(
            {
                "task": "rows",
                "rows": [dataclasses.asdict(r) for r in group],
                "windows": windows,
                "window_images": images,
            }
        ):
            results.append(result)
            log(format_rows([result], peak=None).splitlines()[-1])
    return results


# ---- results ----


def utilisation(result: dict, peak_gflops: float) -> float | None:
    if "step_mflop_per_image" not in result or "images_per_s" not in result:
        return None
    return result["images_per_s"] * result["step_mflop_per_image"] / 1e3 / peak_gflops


def format_rows(results: list[dict], peak: float | None) -> str:
    lines = [
        "| preset | batch | row | xla | steps/call | update order | images/s | compile s | MFLOP/image | "
        "GFLOP/s | utilisation | peak RSS MB (+ over row start) |",
        "|---|---:|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        head = f"| {r['preset']} | {r['batch']} | {r['label']} | "
        if "error" in r:
            lines.append(head + f"| | | failed: {r['error']} | | | | | |")
            continue
        pipeline = r["kind"] == "pipeline"
        gflops = "" if pipeline else f"{r['images_per_s'] * r['step_mflop_per_image'] / 1e3:.1f}"
        util = utilisation(r, peak) if peak else None
        lines.append(
            head
            + ("| | | " if pipeline else f"{'on' if r['jit'] else 'off'} | {r['steps_per_call']} | {r['algorithm']} | ")
            + f"{r['images_per_s']:,.0f} | "
            + ("" if pipeline else f"{r['compile_s']:.1f}")
            + " | "
            + ("" if pipeline else f"{r['step_mflop_per_image']:.1f}")
            + f" | {gflops} | "
            + (f"{100 * util:.0f}%" if util is not None else "")
            + f" | {r['peak_rss_mb']:,.0f} (+{r['peak_rss_mb'] - r.get('rss_start_mb', r['peak_rss_mb']):,.0f}) |"
        )
    return "\n".join(lines)


def check_targets(results: list[dict], peak: float) -> list[str]:
    """One line per (preset, batch): the fastest engine row against every other row but Keras fit's, the tutorial
    idiom and the utilisation target. Keras fit is compared only by benchmarks.step_cost (every variant in one
    process, rotating rounds, one kept iterator): fit rows timed here, minutes apart and each in its own process, did
    not reproduce (docs/benchmarks.md), so no ratio is printed over them."""
    lines = []
    ok = [r for r in results if "error" not in r and r["kind"] != "pipeline"]
    for (preset, batch), group in itertools.groupby(
        sorted(ok, key=lambda r: (r["preset"], r["batch"])), key=lambda r: (r["preset"], r["batch"])
    ):
        group = list(group)
        engine = [r for r in group if r["kind"] == "engine"]
        others = [r for r in group if r["kind"] not in ("engine", "fit")]
        tutorial = [r for r in group if r["kind"] == "tutorial"]
        if not engine or not others:
            continue
        best = max(engine, key=lambda r: r["images_per_s"])
        rival = max(others, key=lambda r: r["images_per_s"])
        need = 0.75 if batch >= 128 else 0.5 if batch <= 32 else None
        util = utilisation(best, peak)
        parts = [
            f"{preset} batch {batch}: best engine row ({best['label']}, {'xla' if best['jit'] else 'no xla'}, "
            f"{best['steps_per_call']} steps/call, {best['algorithm']}) {best['images_per_s']:,.0f} images/s",
            f"{best['images_per_s'] / rival['images_per_s']:.2f}x the best other row ({rival['label']}, "
            f"xla {'on' if rival['jit'] else 'off'}, {rival['steps_per_call']} steps/call)"
            + ("" if best["images_per_s"] >= rival["images_per_s"] else " [target missed]"),
        ]
        if tutorial:
            ratio = best["images_per_s"] / tutorial[0]["images_per_s"]
            parts.append(f"{ratio:.2f}x the tutorial idiom" + ("" if ratio >= 1.2 else " [target 1.2x missed]"))
        parts.append(
            f"utilisation {100 * util:.0f}%"
            + ("" if need is None or util >= need else f" [target {100 * need:.0f}% missed]")
        )
        lines.append("- " + "; ".join(parts))
    return lines


def write_results(
    out: Path, name: str, command: str, results: list[dict], peaks: list[float], elapsed: float, profile_md: str | None
) -> None:
    from benchmarks.throughput_plot import plot

    check_complete(results, len(results))  # the caller checked the count; an error record is not a measurement
    peak = max(peaks)
    flops_note = (
        "FLOPs per image are counted analytically per layer (benchmarks/flops.py): multiply-add = 2, "
        "Conv2D/Conv2DTranspose/Dense only; a trained pass = 3x forward, a pass that only passes "
        "gradients to its input = 2x. Engine simultaneous = 3G + 7D, alternating (also the tutorial "
        "idiom and Keras fit) = 4G + 8D forward-equivalents."
    )
    body = [
        "# Training throughput: tutorial idiom vs Keras fit vs engine\n",
        describe_machine(command),
        f"- matmul peak (fp32, best of 3 at each of {', '.join(f'{n}^3' for n in PEAK_SIZES)}, through TF): "
        f"**{peak:.1f} GFLOP/s** (start {peaks[0]:.1f}, end {peaks[-1]:.1f})",
        f"- total time {elapsed / 60:.1f} min; images/s = median of {WINDOWS if 'quick' not in name else 3} "
        "windows after one warm-up window; compile s = the warm-up window's extra time",
        f"- {flops_note}",
        "",
        format_rows(results, peak),
        "",
        "## Targets",
        "",
        f"({TARGETS})",
        "",
        *check_targets(results, peak),
        "",
    ]
    if profile_md:
        body += ["## Where the time goes", "", profile_md, ""]
    body += [f"![throughput]({name}.png)", ""]
    record = {"command": command, "peak_gflops": peaks, "rows": results, "profile": profile_md}
    save_results(out, name, "\n".join(body), record)
    plot_or_say(plot, results, out / f"{name}.png")


def precisions_arg(text: str) -> list[str]:
    """--precision: one policy, or two to compare (`auto` resolved for this machine); names are checked."""
    from engine.step.precision import resolve_precision

    try:
        names = [resolve_precision(p.strip()) for p in text.split(",")]
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if len(names) > 2 or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r}: one policy, or two different ones to compare")
    return names


def selected_rows(rows: list[Row], presets: str) -> list[Row]:
    """The rows of `rows` whose preset `--presets` names, plus a `PRESET@N` row for each any-size preset named.

    Raises:
      UserError: a name that is neither a preset of the plan nor PRESET@N of a known preset (checked before any
        work, so nothing is measured or written).
    """
    from engine.presets import PRESETS

    names = [n.strip() for n in presets.split(",") if n.strip()]
    in_plan = sorted({r.preset for r in rows})
    for name in names or [""]:
        preset, at, size = name.partition("@")
        if at and preset in PRESETS and size.isdigit() and size.isascii() and int(size) > 0:
            continue
        if not at and preset in in_plan:
            continue
        raise UserError(
            f"--presets {presets!r}: {name!r} is not a preset of this plan ({', '.join(in_plan)}) nor PRESET@N of "
            "a known preset (e.g. folder@32); nothing was measured"
        )
    return [r for r in rows if r.preset in names] + any_size_rows(names)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="dcgan_fashion at batch 64 and 256, 3 short windows")
    parser.add_argument(
        "--presets", help="only these presets (comma-separated) from the plan; PRESET@N: an any-size preset at NxNx3"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile the engine's dcgan_fashion step at batch 128 (op-level time breakdown)",
    )
    parser.add_argument(
        "--precision",
        default="float32",
        type=precisions_arg,
        metavar="P[,P]",
        help="Keras policy for the engine rows (baselines stay float32): float32, mixed_float16, mixed_bfloat16 or "
        "auto; two of them (float32,mixed_bfloat16) compare the engine rows under both, side by side, and write "
        "precision_throughput.md/.json",
    )
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(json.loads(args.child))
        return
    if len(args.precision) == 2:
        from benchmarks.precision_compare import run as compare

        compare(args.precision, args.quick, args.presets, Path(args.out))
        return
    [precision] = args.precision
    start = time.perf_counter()
    rows = quick_plan() if args.quick else full_plan()
    if args.presets is not None:
        rows = selected_rows(rows, args.presets)
    if precision != "float32":
        rows = [dataclasses.replace(r, precision=precision) if r.kind == "engine" else r for r in rows]
    windows, window_images, sizes = (3, 256, PEAK_SIZES[:2]) if args.quick else (WINDOWS, None, PEAK_SIZES)
    peaks = [measure_peak(sizes)]
    print(f"matmul peak {peaks[0]:.1f} GFLOP/s; {len(rows)} rows", flush=True)
    results = run_plan(rows, windows, window_images)
    check_complete(results, len(rows))
    peaks.append(measure_peak(sizes))
    profile_md = None
    if args.profile:
        from benchmarks.op_profile import profile_in_child

        profile_md = profile_in_child("dcgan_fashion", 128, many_steps(128))
    command = (
        "python -m benchmarks.train_throughput"
        + (" --quick" if args.quick else "")
        + (f" --presets {args.presets}" if args.presets else "")
        + (" --profile" if args.profile else "")
        + (f" --precision {precision}" if precision != "float32" else "")
    )
    out = Path(args.out)
    name = "train_throughput" + ("_quick" if args.quick else "") + (f"_{precision}" if precision != "float32" else "")
    write_results(out, name, command, results, peaks, time.perf_counter() - start, profile_md)
    print(format_rows(results, max(peaks)))
    print("\n".join(check_targets(results, max(peaks))))


if __name__ == "__main__":
    run_cli(main)
