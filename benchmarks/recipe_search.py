"""A recorded recipe search: short equal-time trials of one lever at a time, every trial and result kept.

Usage: python -m benchmarks.recipe_search [--trials NAME,...] [--minutes 4] [--num-samples 5000] [--work-dir DIR]
       python -m benchmarks.recipe_search --list
Each trial is a preset plus `--set` overrides and a strategy, trained in its own process for the same training
time (`--time-limit`, evaluations excluded) on this machine and scored at its end (and every 2 minutes) with
the shipped evaluator. Results are appended to benchmarks/results/recipe_search.jsonl (one line per trial run, with
its command, machine and date), and recipe_search.md is rebuilt from all lines, so the search can be rerun or
extended trial by trial. Trials already in the JSONL for the same minutes and samples are skipped unless --again;
when every trial asked for is skipped, nothing is measured and recipe_search.md is not rewritten.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.child import run_forwarding
from benchmarks.machine import cpu_model, describe_machine, make_folder
from benchmarks.training_runs import read_curve, train_command
from engine.errors import UserError
from safeio import replace_file

BASE = "dcgan_fashion_adam"
# FAST + FAST_EMA: the published recipe (alternating, fakes from G in inference mode) as its preset stood when these
# trials ran, with RMSprop(1e-3) (the text's Adam(1e-3, 0.9) came later), + an EMA of G
FAST = "dcgan_fashion"
RMSPROP = ["optimizer=rmsprop"]
FAST_EMA = RMSPROP + ["ema_decay=0.999", "ema_warmup=true"]
# name -> (preset, strategy, overrides, the question it answers). One lever changed against `base` each time.
TRIALS = {
    "base": (BASE, "mirrored", [], "the DCGAN paper's settings: Adam(2e-4, 0.5), batch 64, simultaneous, EMA 0.999"),
    "published": (
        "dcgan_fashion",
        "default",
        [],
        "the tutorial as published (Keras's Adam(1e-3, beta1 0.9), batch 32, alternating)",
    ),
    "published_ema": (
        "dcgan_fashion",
        "default",
        FAST_EMA,
        "the tutorial's recipe with RMSprop(1e-3) plus an EMA of G (0.999, warm-up)",
    ),
    "published_ema_mirrored": (
        "dcgan_fashion",
        "mirrored",
        FAST_EMA,
        "the same on 2 CPU replicas (16 images per replica)",
    ),
    "adam1e-3_b32": (
        BASE,
        "mirrored",
        ["g_lr=1e-3", "d_lr=1e-3", "batch_size=32"],
        "Adam at the tutorial's learning rate and batch, simultaneous step, EMA",
    ),
    "no_ema": (BASE, "mirrored", ["ema_decay=0.0", "ema_warmup=false"], "what the EMA of G adds"),
    "batch32": (BASE, "mirrored", ["batch_size=32"], "more, smaller updates per second"),
    "batch128": (BASE, "mirrored", ["batch_size=128"], "fewer, larger updates per second"),
    "lr1e-3_beta0.5": (BASE, "mirrored", ["g_lr=1e-3", "d_lr=1e-3"], "Adam at the tutorial's learning rate"),
    "lr5e-4": (BASE, "mirrored", ["g_lr=5e-4", "d_lr=5e-4"], "a higher learning rate for a short budget"),
    "beta0.9": (BASE, "mirrored", ["beta1=0.9"], "keras-io gan_ada: beta_1 0.5, 'not 0.9, important'"),
    "ttur": (BASE, "mirrored", ["g_lr=1e-4", "d_lr=4e-4"], "two time-scale update rule (D lr > G lr)"),
    "no_dropout": (BASE, "mirrored", ["dropout=0.0"], "D's Dropout(0.3) off"),
    "hinge_sn": (BASE, "mirrored", ["loss=hinge", "spectral_norm=true"], "hinge + spectral norm at lr 2e-4"),
    "hinge_sn_lr1e-3": (
        BASE,
        "mirrored",
        ["loss=hinge", "spectral_norm=true", "d_lr=1e-3", "g_lr=2e-4"],
        "the earlier guess: SN shrank D's steps at lr 2e-4; a 5x larger D lr tests it",
    ),
    "hinge_no_sn": (BASE, "mirrored", ["loss=hinge"], "hinge without spectral norm: which of the two hurts"),
    "alternating": (BASE, "mirrored", ["update_order=alternating"], "D then G against the updated D"),
    "default_strategy": (BASE, "default", [], "one replica (TensorFlow's own threads) instead of 2 CPU replicas"),
    # The default's levers, each one change to the published recipe + EMA on 2 CPU replicas (what dcgan_fashion_fast
    # was when they ran, 2026-12-02; its records name that preset). fast_simultaneous won and became the default.
    "fast": (FAST, "mirrored", FAST_EMA, "the published recipe (RMSprop) + EMA, the reference for the fast_* trials"),
    "fast_simultaneous": (
        FAST,
        "mirrored",
        FAST_EMA + ["update_order=simultaneous", "d_fakes_inference=false"],
        "one G forward pass feeds both losses: more steps per minute",
    ),
    "fast_train_fakes": (
        FAST,
        "mirrored",
        FAST_EMA + ["d_fakes_inference=false"],
        "D's fakes from G in training mode (batch statistics), as G's own update sees them",
    ),
    "fast_no_dropout": (
        FAST,
        "mirrored",
        FAST_EMA + ["dropout=0.0"],
        "D's Dropout(0.3) off: a cheaper step, a stronger D",
    ),
    "fast_b64": (FAST, "mirrored", FAST_EMA + ["batch_size=64"], "fewer, larger updates per second"),
    "fast_ttur": (FAST, "mirrored", FAST_EMA + ["g_lr=5e-4"], "two time-scale: G at half D's learning rate"),
    "fast_ema0.99": (FAST, "mirrored", FAST_EMA + ["ema_decay=0.99"], "keras-io gan_ada's EMA 0.99: a shorter average"),
}


def run_trial(name: str, minutes: float, num_samples: int, work: Path, data_dir: str | None) -> dict:
    preset, strategy, overrides, question = TRIALS[name]
    run_dir = work / f"{name}-{int(time.time())}"
    marks = [m for m in range(2, int(minutes), 2) if m < minutes]  # and the end
    cmd = train_command(
        preset,
        strategy,
        run_dir,
        overrides=overrides,
        num_samples=num_samples,
        marks=marks,
        minutes=minutes,
        data_dir=data_dir,
    )
    print(" ".join(cmd), flush=True)
    work.mkdir(parents=True, exist_ok=True)
    with open(run_dir.with_suffix(".log"), "w") as log:
        # the child quiets TensorFlow itself; a signal to this process reaches it (it saves, then both exit)
        code = run_forwarding([sys.executable, *cmd[1:]], stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    if code:
        raise SystemExit(f"error: trial {name} failed (exit {code}); see {run_dir.with_suffix('.log')}")
    curve = read_curve(run_dir)
    return {
        "trial": name,
        "preset": preset,
        "strategy": strategy,
        "overrides": overrides,
        "question": question,
        "minutes": minutes,
        "num_samples": num_samples,
        "command": " ".join(cmd),
        "run_dir": str(run_dir),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "final": curve[-1],
        "curve": curve,
    }


def format_table(records: list[dict]) -> str:
    lines = [
        "| trial | changes vs base | question | minutes | steps | FID | precision | recall | coverage | "
        "class entropy | max/min class |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(records, key=lambda r: r["final"]["fid"]):
        f = r["final"]
        changes = " ".join(([f"`{r['preset']}`"] if r["preset"] != BASE else []) + [f"`{o}`" for o in r["overrides"]])
        changes += "" if r["strategy"] == "mirrored" else f" `--strategy {r['strategy']}`"
        lines.append(
            f"| {r['trial']} | {changes or '(none)'} | {r['question']} | {r['minutes']:g} | {f['step']} | "
            f"{f['fid']:.1f} | {f['precision']:.3f} | {f['recall']:.3f} | {f['coverage']:.3f} | "
            f"{f['class_entropy']:.3f} | {f['class_ratio']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.recipe_search", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--trials",
        default="base,published_ema,adam1e-3_b32,lr5e-4,hinge_sn_lr1e-3",
        help=f"comma-separated, from: {', '.join(TRIALS)}",
    )
    parser.add_argument("--list", action="store_true", help="print the trials and exit")
    parser.add_argument("--minutes", type=float, default=4.0, help="training minutes per trial (default 4)")
    parser.add_argument("--num-samples", type=int, default=5000)
    parser.add_argument("--again", action="store_true", help="rerun trials already recorded")
    parser.add_argument("--data-dir")
    parser.add_argument("--work-dir", default="runs/recipe_search")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    if args.list:
        for name, (preset, strategy, overrides, question) in TRIALS.items():
            print(f"{name:<18} {preset} --strategy {strategy} {' '.join(overrides)}: {question}")
        return
    names = [n.strip() for n in args.trials.split(",") if n.strip()]
    unknown = [n for n in names if n not in TRIALS]
    if unknown:
        raise SystemExit(f"error: unknown trial(s) {unknown}; see --list")
    if not names:
        raise SystemExit(f"error: --trials {args.trials!r} names no trial; name some (see --list)")
    try:  # both made before any trial trains: a file in the way is one line, not a traceback after the training
        out, work = make_folder(args.out, "--out"), make_folder(args.work_dir, "--work-dir")
    except UserError as e:
        raise SystemExit(f"error: {e}") from None
    jsonl = out / "recipe_search.jsonl"
    records = [json.loads(line) for line in jsonl.read_text().splitlines()] if jsonl.exists() else []
    measured = 0
    for name in names:
        done = [
            r for r in records if (r["trial"], r["minutes"], r["num_samples"]) == (name, args.minutes, args.num_samples)
        ]
        if done and not args.again:
            print(f"{name}: recorded (FID {done[-1]['final']['fid']:.1f}); --again reruns it")
            continue
        record = run_trial(name, args.minutes, args.num_samples, work, args.data_dir)
        records.append(record)
        measured += 1
        with open(jsonl, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(f"{name}: FID {record['final']['fid']:.1f} after {record['final']['step']} steps", flush=True)
    latest = {}
    for r in records:  # the latest run of each (trial, minutes, samples)
        latest[(r["trial"], r["minutes"], r["num_samples"])] = r
    if not measured:  # nothing new: the table (and the machine it names) stays as it was measured
        print(format_table(list(latest.values())))
        print(f"nothing was measured (every trial asked for is recorded); {out / 'recipe_search.md'} is as it was")
        return
    replace_file(  # whole or not at all: the table of every trial so far
        out / "recipe_search.md",
        (
            "# Recipe search: one lever at a time, equal training time\n\n"
            + describe_machine("python -m benchmarks.recipe_search --trials ...")
            + "\n\n"
            + f"Every trial's command, curve and machine are in recipe_search.jsonl. FID and the rest at the trial's "
            f"end against the full test split, {args.num_samples} samples; best first.\n\n"
            + format_table(list(latest.values()))
            + "\n"
        ).encode(),
    )
    print(format_table(list(latest.values())))


if __name__ == "__main__":
    main()
