"""The quality benchmark on a folder of your own images: folder recipes at equal training minutes, in pixel features.

Usage (through benchmarks.quality):
  python -m benchmarks.quality --data-dir DIR --recipe "NAME=PRESET [engine.train arguments]" [--recipe ...]
                               [--minutes 2,5,10,30] [--num-samples 5000] [--work-dir W] [--out O] [--images I]
                               [--quick]
e.g. --recipe "folder32=folder --image-size 32" --recipe "folder64=folder --image-size 64".

Each recipe trains on DIR in its own process (`python -m engine.train --preset PRESET --data-dir DIR ARGS`) until
its training time reaches the last mark (`--time-limit`, with a step count it cannot reach first unless ARGS set
--steps, --epochs or --time-limit), scored when training time passes each mark and at its end. The scores are in
the folder's pixel features against one half of its images; the floor is the other half and noise is scored too,
all at the same N (at most half the folder: engine.quality.folder_judge). Finished runs in the work dir are reused.
Writes quality.md, quality.json and quality.png (FID vs training minutes) in --out (default
benchmarks/results/quality_<folder>), and each recipe's final grid plus real.png, a grid of the folder's own
images, in --images (default docs/images/quality_<folder>). `--quick`: 100 steps each, a mark at 0.1 minutes.
"""

import os
import shlex
from pathlib import Path

import numpy as np

from benchmarks.machine import describe_machine, make_folder, plot_or_say, save_results
from benchmarks.training_runs import copy_grids, per_minute_table, plot_fid_curves, train_or_read
from engine.run.layout import CONFIG_FILE

UNREACHABLE_STEPS = "100000000"  # the time limit, not the step count, ends a recipe run at equal minutes
LENGTH_FLAGS = ("--steps", "--epochs", "--time-limit")
REAL_GRID_IMAGES = 64


def parse_recipe(spec: str) -> dict:
    """`NAME=PRESET [ARGS...]` (or `PRESET [ARGS...]`, named after the preset) -> {name, preset, extra, strategy}.

    Raises:
      SystemExit: an unclosed quote, an empty spec, a name that is not a plain word, or ARGS that set --preset,
        --data-dir or --out-dir.
    """
    try:
        words = shlex.split(spec)
    except ValueError as e:  # an unclosed quote
        raise SystemExit(
            f"error: --recipe {spec!r}: {e}; quote as a shell would, e.g. 'f32=folder --image-size 32'"
        ) from None
    if not words:
        raise SystemExit("error: --recipe takes 'NAME=PRESET [ARGS]', e.g. 'f32=folder --image-size 32'")
    name, named, preset = words[0].partition("=")
    preset = preset if named else name
    if not name.replace("_", "").replace("-", "").isalnum() or not preset:
        raise SystemExit(f"error: --recipe {spec!r}: NAME=PRESET first, NAME letters, digits, '-' or '_'")
    extra = words[1:]
    taken = [w for w in extra if w.split("=")[0] in ("--preset", "--data-dir", "--out-dir")]
    if taken:
        raise SystemExit(f"error: --recipe {spec!r}: {taken[0]} is the benchmark's (PRESET, --data-dir, the work dir)")
    strategy = next((extra[i + 1] for i, w in enumerate(extra[:-1]) if w == "--strategy"), "default")
    return {"name": name, "preset": preset, "extra": extra, "strategy": strategy, "spec": spec}


def training_args(recipe: dict, minutes: list, *, quick: bool) -> list:
    """The recipe's engine.train arguments plus the length: up to the last mark, unless the recipe sets its own."""
    extra = list(recipe["extra"])
    if not quick and not any(w.split("=")[0] in LENGTH_FLAGS for w in extra):
        extra += ["--steps", UNREACHABLE_STEPS, "--time-limit", f"{max(minutes):g}"]
    return extra


def run_channels(run_dir: Path) -> int:
    import json

    return int(json.loads((run_dir / CONFIG_FILE).read_text())["config"]["image_shape"][2])


def real_grid(data_dir, run_dir: Path, path: Path) -> Path:
    """A grid of REAL_GRID_IMAGES of the folder's images (a fixed random pick) at the first recipe's image shape."""
    import json

    from engine.data.registry import load_dataset
    from imagegrid import make_grid, save_png

    shape = tuple(json.loads((run_dir / CONFIG_FILE).read_text())["config"]["image_shape"])
    images = load_dataset("image_folder", "all", data_dir, shape).images
    pick = np.random.default_rng(0).permutation(len(images))[:REAL_GRID_IMAGES]
    return save_png(make_grid(images[np.sort(pick)]), path)


def _row(m: dict) -> str:
    intra = f"{m['intra_fid']:.1f}" if m.get("intra_fid") is not None else ""
    return (
        f"{m['fid']:.2f} | {m['kid']:.3g} | {m['precision']:.3f} | {m['recall']:.3f} | {m['density']:.2f} | "
        f"{m['coverage']:.3f} | {intra}"
    )


def format_tables(results: dict, refs: dict, minutes: list, num_samples: int, features: dict) -> str:
    """The end-of-run table (recipes, floor, noise) and the FID at each mark, as markdown."""
    head = (
        "| recipe | preset and arguments | steps | training time | FID | KID | precision | recall | density | "
        "coverage | intra-class FID |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for name, r in results.items():
        last = r["curve"][-1]
        args = " ".join([r["preset"], *r["extra"]])
        lines.append(f"| {name} | `{args}` | {last['step']} | {last['train_s'] / 60:.1f} min | {_row(last)} |")
    lines.append(f"| floor (the other half of the folder) | | | | {_row(refs['floor'])} |")
    lines.append(f"| noise (Gaussian, clipped) | | | | {_row(refs['noise'])} |")
    per_minute = per_minute_table(results, minutes, digits=2)
    space = (
        f"pixel features (PCA of {' + '.join(features['views'])} at "
        f"{'x'.join(map(str, features['feature_shape']))}, {features['dims']} dimensions)"
    )
    return (
        f"All at {num_samples} generated images against one half of the folder ({features['reference_images']} of "
        f"its {features['folder_images']} images), in {space}; the floor is the other half at the same N. "
        "Lower FID is better; FIDs are on this feature space's scale only.\n\nAt the end of each recipe:\n\n"
        + "\n".join(lines)
        + "\n\nFID when training time first passed each mark (the evaluation lands at the first step after it):\n\n"
        + "\n".join(per_minute)
    )


def plot(results: dict, floor: dict, path: Path, title: str) -> None:
    labels = {name: name for name in results}
    floor_label = "floor: the folder's other half"
    plot_fid_curves(results, floor, path, title, labels=labels, floor_label=floor_label, space="pixel features")


def main(args, defaults: dict) -> None:
    """Runs the folder benchmark for benchmarks.quality's parsed `args` (`defaults`: its parser's defaults)."""
    from engine.data.image_folder import list_images
    from engine.errors import UserError
    from engine.quality.folder_judge import FolderJudge
    from engine.quality.pixels import FEATURE_SIDE

    if not args.data_dir:
        raise SystemExit("error: --recipe trains on a folder: pass --data-dir DIR (a folder of JPEG/PNG images)")
    if args.recipes != defaults["recipes"]:
        raise SystemExit("error: --recipes names Fashion-MNIST recipes; with --recipe, give every recipe as --recipe")
    if getattr(args, "merge", False):
        raise SystemExit("error: --merge is for the Fashion-MNIST recipes; a folder's finished runs are reused anyway")
    recipes = [parse_recipe(spec) for spec in args.recipe]
    names = [r["name"] for r in recipes]
    if len(set(names)) != len(names):
        raise SystemExit(f"error: recipe names must differ, got {names}")
    try:
        list_images(Path(args.data_dir).expanduser())  # a missing or empty folder stops here, before any training
    except UserError as e:
        raise SystemExit(f"error: {e}") from None
    minutes = [0.1] if args.quick else sorted(float(m) for m in args.minutes.split(","))
    num_samples = args.num_samples or (500 if args.quick else 5000)
    folder = Path(args.data_dir).expanduser().resolve().name
    suffix = "_quick" if args.quick else ""
    work = Path(f"{args.work_dir if args.work_dir != defaults['work_dir'] else f'runs/quality_{folder}'}{suffix}")
    out = Path(args.out if args.out != defaults["out"] else f"benchmarks/results/quality_{folder}{suffix}")
    images = Path(args.images if args.images != defaults["images"] else f"docs/images/quality_{folder}")
    if args.quick:
        images = out / "grids"
    make_folder(work, "--work-dir")
    make_folder(out, "--out")  # before anything trains: a file in the way is one line now, not after the training

    results = {}
    for recipe in recipes:
        run_dir = work / recipe["name"]
        run = train_or_read(
            recipe["name"],
            recipe["preset"],
            recipe["strategy"],
            training_args(recipe, minutes, quick=args.quick),
            run_dir,
            minutes=minutes,
            num_samples=num_samples,
            data_dir=args.data_dir,
            quick=args.quick,
            digits=2,
        )
        results[recipe["name"]] = {
            **{k: recipe[k] for k in ("preset", "extra", "strategy", "spec")},
            **run,
            "channels": run_channels(run_dir),
        }

    channels = {r["channels"] for r in results.values()}
    if len(channels) > 1:
        raise SystemExit(f"error: the recipes trained with {sorted(channels)} channels; compare recipes of one kind")
    first = Path(next(iter(results.values()))["run_dir"])
    judge = FolderJudge(args.data_dir, image_shape=(FEATURE_SIDE, FEATURE_SIDE, channels.pop()))
    refs = judge.reference_points(num_samples)
    n = judge.samples(num_samples)
    print(f"floor FID {refs['floor']['fid']:.2f}, noise FID {refs['noise']['fid']:.2f} at {n} samples", flush=True)

    copy_grids(results, images, minutes)
    real = str(real_grid(args.data_dir, first, images / "real.png"))
    command = "python -m benchmarks.quality --data-dir " + shlex.quote(args.data_dir)
    command += "".join(f" --recipe {shlex.quote(r['spec'])}" for r in recipes)
    command += " --quick" if args.quick else f" --minutes {','.join(f'{m:g}' for m in minutes)}"
    plot_or_say(plot, results, refs["floor"], out / "quality.png", f"{folder}: FID at {n} samples vs training time")
    tables = format_tables(results, refs, minutes, n, judge.info)
    listing = "\n".join(
        f"- **{k}**: `python -m engine.train --preset {r['preset']} --data-dir DIR "
        f"{' '.join(map(shlex.quote, r['extra']))}`".rstrip()
        for k, r in results.items()
    )
    grids = "\n".join(
        [
            "| grid | real images | " + " | ".join(results) + " |",
            "|---" * (len(results) + 2) + "|",
            *(
                f"| after {m:g} min | ![real]({os.path.relpath(real, out)}) | "
                + " | ".join(
                    f"![{k}]({os.path.relpath(r['grids'][f'{m:g}'], out)})" if f"{m:g}" in r["grids"] else "-"
                    for k, r in results.items()
                )
                + " |"
                for m in minutes
            ),
            f"| at the end | ![real]({os.path.relpath(real, out)}) | "
            + " | ".join(f"![{k}]({os.path.relpath(r['grid'], out)})" for k, r in results.items())
            + " |",
        ]
    )
    save_results(
        out,
        "quality",
        f"# Generation quality per training minute: {folder}\n\n{describe_machine(command)}\n- data: "
        f"{Path(args.data_dir).expanduser().resolve()}\n\n{listing}\n\n{tables}\n\n![FID vs training minutes]"
        "(quality.png)\n\nGrids from one fixed latent batch when training time passed each mark and at the end, "
        f"beside the folder's own images:\n\n{grids}\n"
        + (f"\nNote: {args.note}\n" if getattr(args, "note", "") else ""),
        {
            "command": command,
            "data_dir": str(Path(args.data_dir).expanduser().resolve()),
            "minutes": minutes,
            "num_samples": n,
            "features": judge.info,
            "reference": refs,
            "recipes": results,
        },
    )
    print(tables)
    print(f"wrote {out / 'quality.md'}, .json, .png; grids in {images}")
