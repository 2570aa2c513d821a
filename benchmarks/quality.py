"""Generation quality per CPU-minute: the engine's recipes against the tutorial's, at equal training seconds.

Usage: python -m benchmarks.quality [--recipes published,default,...] [--minutes 2,5,10,20,30] [--num-samples 5000]
                                    [--work-dir runs/quality] [--name quality] [--merge] [--note TEXT] [--quick]
Each recipe trains in its own process (`python -m engine.train --eval-at-minutes ...`), one after the other on
this machine, and is scored when its training time (evaluations excluded) passes each mark and at its end: FID,
KID, precision/recall, density/coverage and class balance against the test split, all at the same number of
samples as the floor (real train vs test images) and the noise reference, with the shipped evaluator. A recipe whose
run already finished in --work-dir is read, not retrained, so recipes can be run one at a time and reported
together. Writes quality.md, quality.json and quality.png (FID vs training minutes) under benchmarks/results/ and
copies each recipe's final grid to docs/images/quality/. `--merge` re-measures only the recipes named and keeps every
other recipe of the existing results as it was measured (each row says by which command, and when); `--name` writes
another set of files (e.g. a side comparison that must not replace the published table's rows). `--quick` (100
steps each, 500 samples) checks it runs.
"""

import argparse
import json
import os
import time
from pathlib import Path

from benchmarks.machine import describe_machine, make_folder, plot_or_say, save_results
from benchmarks.training_runs import copy_grids, per_minute_table, plot_fid_curves, train_or_read
from engine.errors import UserError, run_cli

# name -> (preset, strategy, extra arguments, what it is). The baseline is the tutorial as published, full length.
RECIPES = {
    "published": (
        "dcgan_fashion",
        "default",
        [],
        'the Fashion-MNIST tutorial as published: `optimizer="adam"` (Keras\'s Adam: lr 1e-3, beta1 0.9, '
        "beta2 0.999, epsilon 1e-7), batch 32, 10 epochs, D then G",
    ),
    "default": (
        "dcgan_any_fashion",
        "mirrored",
        [],
        "the engine's default (`python -m engine.train --strategy mirrored`); until 2026-12-06 it was "
        "dcgan_fashion_fast, which the stored rows of that date name",
    ),
    "default-adam": (
        "dcgan_fashion_fast",
        "mirrored",
        ["--set", "optimizer=adam", "--set", "beta1=0.9"],
        "the default with the tutorial's optimizer, Keras's default Adam(1e-3, beta1 0.9, beta2 0.999) in place of "
        "RMSprop(1e-3): which of the two the engine's recipes should use",
    ),
    "default-bf16": (
        "dcgan_fashion_fast",
        "mirrored",
        ["--precision", "mixed_bfloat16", "--steps", "5450"],
        "the default under `--precision mixed_bfloat16` for as many steps as bfloat16 runs in the float32 default's "
        "264.9 s of training: 5,000 x 1.09, its measured speed-up as shipped on the 2-core AMD EPYC (equal training "
        "time; with Keras's Dropout in D, as it then was: benchmarks/results/precision_throughput_keras_dropout.md)",
    ),
    "recommended": (
        "cdcgan_fashion",
        "mirrored",
        ["--steps", "40000", "--time-limit", "30"],
        "the engine's recipe for half an hour: the class-conditional cdcgan_fashion run on until 30 minutes of "
        "training (`--preset cdcgan_fashion_long` is this recipe at the 33,000 steps it reached); sampled over the "
        "ten classes evenly, as the data is",
    ),
    "long": (
        "dcgan_fashion_long",
        "mirrored",
        ["--time-limit", "30"],
        "the best unconditional recipe for half an hour (`--preset dcgan_fashion_long`), stopped at 30 minutes",
    ),
    "conditional": (
        "cdcgan_fashion_aux",
        "mirrored",
        [],
        "the engine's recipe for recognisable classes: cdcgan_fashion with an auxiliary classifier in D "
        "(`--preset cdcgan_fashion_aux`, 10,000 steps); sampled over the ten classes evenly",
    ),
    "modern": (
        "dcgan_fashion_modern",
        "default",
        [],
        "the earlier 'recommended' recipe: hinge, spectral norm on D, EMA 0.995, batch 128, 3 epochs",
    ),
}
DATASET = "fashion_mnist"


def plot(results: dict, floor: dict, path: Path, title: str) -> None:
    labels = {name: f"{name} ({r['preset']})" for name, r in results.items()}
    floor_label = "floor: real train vs test images"
    plot_fid_curves(results, floor, path, title, labels=labels, floor_label=floor_label, space="evaluator features")


def _row(m: dict) -> str:
    conditional = f"{m['class_accuracy']:.3f} | {m['intra_fid']:.1f}" if m.get("class_accuracy") is not None else " | "
    return (
        f"{m['fid']:.1f} | {m['precision']:.3f} | {m['recall']:.3f} | {m['density']:.2f} | {m['coverage']:.3f} | "
        f"{m['class_entropy']:.3f} | {m['class_ratio']:.2f} | {conditional}"
    )


def provenance(r: dict, command: str) -> str:
    """' (measured by ..., on ...; note)' for a recipe measured by another run than `command`, or with a note."""
    m = r.get("measured") or {}
    parts = []
    if m.get("command") and m["command"] != command:
        parts.append(f"measured by `{m['command']}`" + (f" on {m['date']}" if m.get("date") else ""))
    if m.get("note"):
        parts.append(m["note"])
    return f" ({'; '.join(parts)})" if parts else ""


def format_tables(results: dict, refs: dict, minutes: list, num_samples: int) -> str:
    head = (
        "| recipe | preset | steps | training time | FID | precision | recall | density | coverage | "
        "class entropy | max/min class | class accuracy | intra-class FID |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for name, r in results.items():
        last = r["curve"][-1]
        lines.append(f"| {name} | `{r['preset']}` | {last['step']} | {last['train_s'] / 60:.1f} min | {_row(last)} |")
    for name, m in (("floor (real train images)", refs["floor"]), ("noise (Gaussian, clipped)", refs["noise"])):
        lines.append(f"| {name} | | | | {_row(m)} |")
    per_minute = per_minute_table(results, minutes, digits=1)
    return (
        f"All at {num_samples} generated images vs the full test split (10,000 images); class entropy is the "
        "predicted-class histogram's entropy / log(10), max/min the most / least frequent class count; for conditional "
        "recipes, class accuracy is the evaluator's accuracy on the labels G was asked for and intra-class FID the "
        "mean of the per-class FIDs.\n\n"
        "At the end of each recipe:\n\n"
        + "\n".join(lines)
        + (
            "\n\nFID when training time first passed each mark (the evaluation lands at the first step after it):"
            "\n\n" + "\n".join(per_minute)
            if len(per_minute) > 2  # no run reached a mark: no table
            else ""
        )
    )


def merged(previous: dict, fresh: dict) -> dict:
    """The recipes of `previous` (an earlier results record) in their order, each of `fresh` replacing or joining
    them; a kept recipe keeps its own `measured` (command and date), from the earlier record when it had none."""
    out = {}
    for name, r in previous.get("recipes", {}).items():
        out[name] = fresh.get(name) or {
            **r,
            "measured": r.get("measured") or {"command": previous["command"], "date": previous.get("date")},
        }
    return {**out, **{n: r for n, r in fresh.items() if n not in out}}


def minutes_arg(text: str) -> str:
    """--minutes: numbers > 0 separated by commas (checked before any data is read; returned as given)."""
    try:
        marks = [float(m) for m in text.split(",")]
    except ValueError:
        marks = []
    if not marks or not all(0 < m < float("inf") for m in marks):
        raise UserError(f"--minutes {text!r}: expected numbers > 0 separated by commas, e.g. 1,2,5")
    return text


def samples_arg(text: str) -> int:
    """--num-samples: a whole number >= 2 (a covariance needs two), checked before any data is read."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 2:
        raise UserError(f"--num-samples {text!r}: expected a whole number >= 2 (5000 is the usual)")
    return n


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.split("\n")[0])
    parser.add_argument("--recipes", default="published,default", help=f"comma-separated, from: {', '.join(RECIPES)}")
    parser.add_argument("--minutes", default="1,2,5,10,20,30", help="training-time marks to evaluate at")
    parser.add_argument("--quick", action="store_true", help="100 steps per recipe, 500 samples: checks it runs")
    parser.add_argument("--num-samples", help="images per evaluation (default 5000; quick 500)")
    parser.add_argument("--data-dir", help="Fashion-MNIST files (default: the usual search)")
    parser.add_argument("--work-dir", default="runs/quality", help="where the runs go; finished runs are reused")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--images", default="docs/images/quality", help="where the final sample grids are copied")
    parser.add_argument("--name", default="quality", help="the results files' name: NAME.md, NAME.json, NAME.png")
    parser.add_argument("--merge", action="store_true", help="keep the other recipes of an existing NAME.json")
    parser.add_argument("--note", default="", help="a line on how this run was made (e.g. the machine's load)")
    parser.add_argument(
        "--recipe",
        action="append",
        metavar="'NAME=PRESET [ARGS]'",
        help="a recipe on the folder --data-dir (repeatable), e.g. 'folder32=folder --image-size 32': scored in the "
        "folder's pixel features (benchmarks/folder_quality.py)",
    )
    args = parser.parse_args()
    minutes_arg(args.minutes)  # both checked before any data is read, with or without --recipe
    args.num_samples = None if args.num_samples is None else samples_arg(args.num_samples)
    if args.recipe:  # a folder of the user's own images, not the Fashion-MNIST recipes
        from benchmarks import folder_quality

        defaults = {k: parser.get_default(k) for k in ("recipes", "work_dir", "out", "images")}
        return folder_quality.main(args, defaults)
    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise UserError(f"unknown recipe(s) {unknown}; valid: {', '.join(RECIPES)}")
    minutes = sorted(float(m) for m in args.minutes.split(","))
    num_samples = args.num_samples or (500 if args.quick else 5000)
    work = Path(args.work_dir + ("_quick" if args.quick else ""))
    make_folder(work, "--work-dir")
    # where the results go, made before anything trains: a file in the way is one line now, not after the training
    out, images = Path(args.out), Path(args.images) if not args.quick else Path(args.out) / "quality_quick_grids"
    make_folder(out, "--out")
    name_out = args.name + ("_quick" if args.quick else "")

    from engine.quality.report import Judge

    judge = Judge(DATASET, data_dir=args.data_dir)  # the evaluator and the data are checked before anything trains
    refs = judge.reference_points(num_samples)
    print(
        f"floor FID {refs['floor']['fid']:.2f}, noise FID {refs['noise']['fid']:.2f} at {num_samples} samples",
        flush=True,
    )

    results = {}
    for name in names:
        preset, strategy, extra, what = RECIPES[name]
        run = train_or_read(
            name,
            preset,
            strategy,
            extra,
            work / name,
            minutes=minutes,
            num_samples=num_samples,
            data_dir=args.data_dir,
            quick=args.quick,
        )
        results[name] = {"preset": preset, "strategy": strategy, "what": what, **run}

    copy_grids(results, images)
    command = f"python -m benchmarks.quality --recipes {','.join(names)}" + (" --quick" if args.quick else "")
    for flag in ("minutes", "name", "images"):  # the options that change what is measured or where it goes
        if getattr(args, flag) != parser.get_default(flag):
            command += f" --{flag} {getattr(args, flag)}"
    command += " --merge" if args.merge else ""
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for r in results.values():
        r["measured"] = {"command": command, "date": date, **({"note": args.note} if args.note else {})}
    previous = out / f"{name_out}.json"
    if args.merge and previous.exists():
        record = json.loads(previous.read_text())
        if (record["minutes"], record["num_samples"]) != (minutes, num_samples):
            raise UserError(
                f"{previous} was measured at minutes {record['minutes']} and {record['num_samples']} samples; "
                "merge only runs made at the same marks and samples"
            )
        if not record.get("date"):  # records before --merge kept their date only in the markdown's header
            md = previous.with_suffix(".md")
            lines = md.read_text().splitlines() if md.exists() else []
            record["date"] = next((x.split(": ", 1)[1] for x in lines if x.startswith("- date: ")), None)
        results = merged(record, results)
    title = f"Fashion-MNIST, FID at {num_samples} samples vs training time"
    plot_or_say(plot, results, refs["floor"], out / f"{name_out}.png", title)
    tables = format_tables(results, refs, minutes, num_samples)
    recipes = "\n".join(
        f"- **{n}** (`{r['preset']}`, `--strategy {r['strategy']}`): {r['what']}{provenance(r, command)}"
        for n, r in results.items()
    )
    grids = "\n".join(
        [
            "| " + " | ".join(results) + " |",
            "|---" * len(results) + "|",
            "| " + " | ".join(f"![{n}]({os.path.relpath(r['grid'], out)})" for n, r in results.items()) + " |",
        ]
    )
    evaluator = judge.evaluator.info
    save_results(
        out,
        name_out,
        f"# Generation quality per training minute\n\n{describe_machine(command)}\n- evaluator: "
        f"{'shipped' if evaluator['shipped'] else 'own'}, sha256 {evaluator['sha256'][:12]}, test accuracy "
        f"{evaluator['test_accuracy']:.4f}\n\n{recipes}\n\n{tables}\n\n![FID vs training minutes]({name_out}.png)"
        f"\n\nFinal grids:\n\n{grids}\n",
        {
            "command": command,
            "date": date,
            "minutes": minutes,
            "num_samples": num_samples,
            "evaluator": {k: evaluator[k] for k in ("sha256", "shipped", "test_accuracy")},
            "reference": refs,
            "recipes": results,
        },
    )
    print(tables)
    print(f"wrote {out / f'{name_out}.md'}, .json, .png; grids in {images}")


if __name__ == "__main__":
    run_cli(main)
