"""Recipe runs of the quality benchmarks: one recipe trained in a child process (`python -m engine.train`), or read
back when it already finished, and what it left behind (its evaluations, its last sample grid).

A leaf: it imports no other benchmarks module, so benchmarks.quality, benchmarks.folder_quality and
benchmarks.recipe_search all read runs the same way.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from engine.run.layout import GENERATOR_FILE, METRICS, SAMPLES, minute_grid


def train_run(
    preset: str,
    strategy: str,
    extra: list,
    run_dir: Path,
    *,
    minutes: list,
    num_samples: int,
    data_dir: str | None,
    quick: bool,
) -> float:
    """Trains one recipe in a child process, scored at each minute mark and at the end; returns wall seconds."""
    cmd = [
        sys.executable,
        "-m",
        "engine.train",
        "--preset",
        preset,
        "--strategy",
        strategy,
        *extra,
        "--eval-samples",
        str(num_samples),
        "--out-dir",
        str(run_dir),
    ]
    cmd += ["--steps", "100"] if quick else ["--eval-at-minutes", ",".join(f"{m:g}" for m in minutes)]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    if quick:
        cmd += ["--eval-at-minutes", "0.1"]
    print(" ".join(cmd[1:]), flush=True)
    log_path = run_dir.parent / f"{run_dir.name}.log"
    start = time.perf_counter()
    with open(log_path, "w") as log:
        code = subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ)
        ).returncode  # the child quiets TensorFlow itself
    if code:
        tail = log_path.read_text().strip().splitlines()[-3:]
        raise SystemExit(f"error: training {preset} failed (exit {code}): {' | '.join(tail)}")
    return time.perf_counter() - start


def read_curve(run_dir: Path) -> list[dict]:
    """The evaluated records of a run's metrics.jsonl: step, epoch, train_s and the metrics."""
    records = [json.loads(line) for line in (run_dir / METRICS).read_text().splitlines()]
    from engine.run.evaluation import LOGGED  # the names the training loop logs its evaluations under

    keys = ("step", "epoch", "train_s", *(m for m in LOGGED if m != "score"))
    return [{k: r[k] for k in keys if k in r} for r in records if "fid" in r]


def finished(run_dir: Path) -> bool:
    """Whether the run ended (its generator is written) with at least one evaluation."""
    return (run_dir / GENERATOR_FILE).exists() and bool(read_curve(run_dir))


def final_grid(run_dir: Path) -> Path:
    """The last sample grid the run wrote (epoch_NNN.png, or step_NNNNNN.png when it stopped mid-epoch)."""
    grids = [*(run_dir / SAMPLES).glob("epoch_*.png"), *(run_dir / SAMPLES).glob("step_*.png")]
    return max(grids, key=lambda p: p.stat().st_mtime)


def at_minute(curve: list[dict], minute: float) -> dict | None:
    """The evaluation made when training time first passed `minute` (None if the run was shorter)."""
    return next((c for c in curve if c["train_s"] >= 60 * minute - 1e-6), None)


def train_or_read(
    name: str,
    preset: str,
    strategy: str,
    extra: list,
    run_dir: Path,
    *,
    minutes: list,
    num_samples: int,
    data_dir: str | None,
    quick: bool,
    digits: int = 1,
) -> dict:
    """Recipe `name`'s run in `run_dir`: read back when it finished there, else trained (`train_run`). Prints its FIDs
    (to `digits` decimals) at their training minutes; returns {"run_dir", "wall_s" (None when read back), "curve"}.

    Raises:
      SystemExit: `run_dir` holds an unfinished run, or the training failed.
    """
    wall = None
    if not finished(run_dir):
        if run_dir.exists():
            raise SystemExit(
                f"error: {run_dir} holds an unfinished run; resume it (python -m engine.train --resume "
                f"--out-dir {run_dir}) or move it away"
            )
        wall = train_run(
            preset,
            strategy,
            extra,
            run_dir,
            minutes=minutes,
            num_samples=num_samples,
            data_dir=data_dir,
            quick=quick,
        )
    curve = read_curve(run_dir)
    print(
        f"{name}: FID {[round(c['fid'], digits) for c in curve]} at minutes "
        f"{[round(c['train_s'] / 60, 1) for c in curve]}",
        flush=True,
    )
    return {"run_dir": str(run_dir), "wall_s": round(wall, 1) if wall else None, "curve": curve}


def copy_grids(results: dict, images: Path, minutes: list = ()) -> None:
    """Copies each run's last grid to `images`/NAME.png and records that path as the result's "grid"; and the grid
    it drew at each of `minutes` it reached (samples/minute_M.png) to NAME_Mmin.png, recorded in "grids"."""
    images.mkdir(parents=True, exist_ok=True)
    for name, r in results.items():
        r["grid"] = str(images / f"{name}.png")
        shutil.copyfile(final_grid(Path(r["run_dir"])), r["grid"])
        r["grids"] = {}
        for minute in minutes:
            drawn = Path(r["run_dir"]) / SAMPLES / minute_grid(minute)
            if drawn.exists():
                r["grids"][f"{minute:g}"] = str(images / f"{name}_{minute:g}min.png")
                shutil.copyfile(drawn, r["grids"][f"{minute:g}"])
