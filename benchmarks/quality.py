"""Generation quality of the tutorial recipe vs the engine's recommended one, on real Fashion-MNIST.

Usage: python -m benchmarks.quality [--quick] [--epochs 10] [--batch-size 128] [--num-samples 5000]
Each recipe trains in its own process (`python -m engine.train --eval-every 1`) with the same epochs and batch;
FID/KID/classifier score per epoch come from its metrics.jsonl, all at the same number of samples as the floor
(real train vs test images) and the noise reference. Writes quality.md, quality.json and quality.png (FID vs epoch)
under benchmarks/results/ and copies each recipe's final sample grid to docs/images/quality/. `--quick` (100 steps
per recipe, 500 samples, minutes) checks that it all still runs and writes quality_quick.* instead.
Needs the evaluator: `python -m engine.evaluate --train-evaluator --dataset fashion_mnist`.
"""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.machine import describe_machine, save_results

RECIPES = {  # name -> (preset, what it is)
    "tutorial": ("dcgan_fashion", "the tutorial's recipe as published: non-saturating BCE, Adam(2e-4, 0.5)"),
    "recommended": ("dcgan_fashion_modern",
                    "same networks and optimiser; hinge loss, spectral norm on D, EMA of G (0.995)"),
}
DATASET = "fashion_mnist"


def train_recipe(preset: str, run_dir: Path, *, epochs: int, steps: int, batch: int, num_samples: int,
                 data_dir: str | None) -> float:
    """Trains one recipe in a child process with evaluation after every epoch; returns wall seconds."""
    length = ["--steps", str(steps)] if steps else ["--epochs", str(epochs)]
    cmd = [sys.executable, "-m", "engine.train", "--preset", preset, *length, "--batch-size", str(batch),
           "--eval-every", "1", "--eval-samples", str(num_samples), "--out-dir", str(run_dir)]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    print(" ".join(cmd[1:]), flush=True)
    start = time.perf_counter()
    with open(run_dir.parent / f"{run_dir.name}.log", "w") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}).returncode
    if code:
        tail = (run_dir.parent / f"{run_dir.name}.log").read_text().strip().splitlines()[-3:]
        raise SystemExit(f"error: training {preset} failed (exit {code}): {' | '.join(tail)}")
    return time.perf_counter() - start


def read_curve(run_dir: Path) -> list[dict]:
    """The evaluated records of a run's metrics.jsonl: step, epoch, fid, kid, kid_stderr, score."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    keys = ("step", "epoch", "fid", "kid", "kid_stderr", "score", "d_loss", "g_loss")
    return [{k: r[k] for k in keys if k in r} for r in records if "fid" in r]


def final_grid(run_dir: Path) -> Path:
    """The last sample grid the run wrote (epoch_NNN.png, or step_NNNNNN.png when it stopped mid-epoch)."""
    grids = sorted((run_dir / "samples").glob("*.png"), key=lambda p: p.stat().st_mtime)
    return grids[-1]


def plot(results: dict, floor: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for name, r in results.items():
        curve = r["curve"]
        ax.plot([c["epoch"] for c in curve], [c["fid"] for c in curve], marker="o", label=f"{name} ({r['preset']})")
    ax.axhline(floor["fid"], color="gray", linestyle="--", label="floor: real train vs test images")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("FID (evaluator features, log scale)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def format_tables(results: dict, refs: dict, num_samples: int) -> str:
    kid = lambda m: f"{m['kid']:.3g} ± {m['kid_stderr']:.2g}"  # raw: its scale follows the evaluator's features
    lines = [f"| recipe | preset | steps | train wall time | final FID | best FID (epoch) | final KID | "
             f"final score |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        last, best = r["curve"][-1], min(r["curve"], key=lambda c: c["fid"])
        lines.append(f"| {name} | `{r['preset']}` | {last['step']} | {r['wall_s'] / 60:.1f} min | {last['fid']:.2f} | "
                     f"{best['fid']:.2f} ({best['epoch']:.3g}) | {kid(last)} | {last['score']:.2f} |")
    for name, m in (("floor (real train images)", refs["floor"]), ("noise (Gaussian, clipped)", refs["noise"])):
        lines.append(f"| {name} | | | | {m['fid']:.2f} | | {kid(m)} | {m['score']:.2f} |")
    names = list(results)
    epochs = sorted({c["epoch"] for r in results.values() for c in r["curve"]})
    per_epoch = ["| epoch | " + " | ".join(f"{n} FID" for n in names) + " |", "|---:|" + "---:|" * len(names)]
    for e in epochs:
        cells = [next((f"{c['fid']:.2f}" for c in results[n]["curve"] if c["epoch"] == e), "") for n in names]
        per_epoch.append(f"| {e:.3g} | " + " | ".join(cells) + " |")
    return (f"All at {num_samples} generated images vs the full test split.\n\n" + "\n".join(lines)
            + "\n\nFID after each epoch:\n\n" + "\n".join(per_epoch))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 steps per recipe, 500 samples: checks it runs")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--num-samples", type=int, help="images per evaluation (default 5000; quick 500)")
    parser.add_argument("--data-dir", help="Fashion-MNIST files (default: the usual search)")
    parser.add_argument("--work-dir", help="where the two runs go (default runs/quality-<timestamp>)")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--images", default="docs/images/quality", help="where the final sample grids are copied")
    args = parser.parse_args()
    steps = 100 if args.quick else 0
    num_samples = args.num_samples or (500 if args.quick else 5000)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    work = Path(args.work_dir or f"runs/quality-{stamp}")
    work.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if args.quick else ""

    from engine.errors import UserError
    from engine.quality.report import Judge

    try:  # the evaluator and the data are checked before anything trains
        judge = Judge(DATASET, data_dir=args.data_dir)
    except UserError as e:
        raise SystemExit(f"error: {e}") from None
    refs = judge.reference_points(num_samples)
    print(f"floor FID {refs['floor']['fid']:.2f}, noise FID {refs['noise']['fid']:.2f} at {num_samples} samples",
          flush=True)

    results = {}
    for name, (preset, what) in RECIPES.items():
        run_dir = work / name
        wall = train_recipe(preset, run_dir, epochs=args.epochs, steps=steps, batch=args.batch_size,
                            num_samples=num_samples, data_dir=args.data_dir)
        results[name] = {"preset": preset, "what": what, "run_dir": str(run_dir), "wall_s": round(wall, 1),
                         "curve": read_curve(run_dir)}
        print(f"{name}: FID per evaluation {[round(c['fid'], 2) for c in results[name]['curve']]} "
              f"({wall / 60:.1f} min)", flush=True)

    out, images = Path(args.out), Path(args.images) if not args.quick else Path(args.out) / "quality_quick_grids"
    out.mkdir(parents=True, exist_ok=True)
    images.mkdir(parents=True, exist_ok=True)
    for name, r in results.items():
        r["grid"] = str(images / f"{name}.png")
        shutil.copyfile(final_grid(Path(r["run_dir"])), r["grid"])
    length = f"{steps} steps" if steps else f"{args.epochs} epoch{'s' * (args.epochs != 1)}"
    command = (f"python -m benchmarks.quality" + (" --quick" if args.quick else "")
               + (f" --epochs {args.epochs}" if args.epochs != 10 and not args.quick else ""))
    title = f"Fashion-MNIST, {length} at batch {args.batch_size}, FID at {num_samples} samples"
    plot(results, refs["floor"], out / f"quality{suffix}.png", title)
    tables = format_tables(results, refs, num_samples)
    recipes = "\n".join(f"- **{n}** (`{r['preset']}`): {r['what']}" for n, r in results.items())
    evaluator = judge.evaluator.info
    save_results(
        out, f"quality{suffix}",
        f"# Generation quality: tutorial vs recommended recipe ({length}, batch {args.batch_size})\n\n"
        f"{describe_machine(command)}\n- evaluator: {evaluator['test_accuracy']:.4f} test accuracy, trained "
        f"{evaluator['trained_at']} on {evaluator['source']}\n\n{recipes}\n\n{tables}\n\n"
        f"![FID vs epoch](quality{suffix}.png)\n",
        {"command": command, "epochs": args.epochs, "steps": steps, "batch_size": args.batch_size,
         "num_samples": num_samples, "evaluator": evaluator, "reference": refs, "recipes": results})
    print(tables)
    print(f"wrote {out / f'quality{suffix}.md'}, .json, .png; grids in {images}")


if __name__ == "__main__":
    main()
