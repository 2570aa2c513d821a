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

from benchmarks.child import run_forwarding
from engine.run.layout import GENERATOR_FILE, METRICS, SAMPLES, minute_grid


def train_command(
    preset: str,
    strategy: str,
    out_dir: Path,
    *,
    extra=(),
    overrides=(),
    num_samples: int,
    marks=(),
    minutes: float | None = None,
    data_dir: str | None = None,
) -> list[str]:
    """The `python -m engine.train` command line a benchmark runs (and records): `extra` arguments as they are,
    `overrides` as --set pairs, evaluations at the minute `marks`, a `--time-limit` of `minutes` (with a step count
    no run reaches), and the folder."""
    cmd = ["python", "-m", "engine.train", "--preset", preset, "--strategy", strategy, *extra]
    cmd += [arg for o in overrides for arg in ("--set", o)]
    if minutes is not None:
        cmd += ["--steps", "1000000", "--time-limit", f"{minutes:g}"]
    cmd += ["--eval-samples", str(num_samples), "--out-dir", str(out_dir)]
    cmd += ["--eval-at-minutes", ",".join(f"{m:g}" for m in marks)] if marks else []
    return cmd + (["--data-dir", data_dir] if data_dir else [])


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
    marks = [0.1] if quick else minutes
    cmd = train_command(preset, strategy, run_dir, extra=extra, num_samples=num_samples, marks=marks, data_dir=data_dir)
    cmd = [sys.executable, *cmd[1:], *(["--steps", "100"] if quick else [])]
    print(" ".join(cmd[1:]), flush=True)
    log_path = run_dir.parent / f"{run_dir.name}.log"
    start = time.perf_counter()
    with open(log_path, "w") as log:
        # the child quiets TensorFlow itself; a signal to this process reaches it (it saves, then both exit)
        code = run_forwarding(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
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


def per_minute_table(results: dict, minutes, digits: int) -> list[str]:
    """Markdown rows: each recipe's FID (and step) when its training time first passed each of `minutes`."""
    names = list(results)
    rows = ["| training minutes | " + " | ".join(f"{n} FID" for n in names) + " |", "|---:|" + "---:|" * len(names)]
    for minute in minutes:
        cells = []
        for n in names:
            c = at_minute(results[n]["curve"], minute)
            cells.append(f"{c['fid']:.{digits}f} (step {c['step']})" if c else "")
        if any(cells):
            rows.append(f"| {minute:g} | " + " | ".join(cells) + " |")
    return rows


def plot_fid_curves(results: dict, floor: dict, path: Path, title: str, *, labels: dict, floor_label: str, space: str):
    """FID against training minutes, one line per recipe (`labels`: name -> legend text), the floor dashed; log
    scales. Needs matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for name, r in results.items():
        curve = r["curve"]
        ax.plot([c["train_s"] / 60 for c in curve], [c["fid"] for c in curve], marker="o", label=labels[name])
    ax.axhline(floor["fid"], color="gray", linestyle="--", label=floor_label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training minutes on this machine (log scale)")
    ax.set_ylabel(f"FID ({space}, log scale)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
