"""Measure generation quality.

  python -m engine.evaluate --train-evaluator --dataset D [--data-dir DIR] [--epochs E] [--force]
  python -m engine.evaluate --run-dir DIR [--num-samples N] [--seed S] [--checkpoint auto|best|latest]

The first trains and caches the dataset's classifier (the judge); the second scores a run's generator against the
dataset's test split with FID, KID, the classifier score, precision/recall and density/coverage (k-NN manifolds
in the evaluator's feature space) and the class balance of the generated images (plus class accuracy and
intra-class FID for conditional runs), next to the floor (real train vs test images) and noise, all at the same
N, and writes <run-dir>/evaluation.json. An image-folder run is scored in pixel features against one half of its
folder, the other half being the floor (engine.quality.folder_judge; docs/quality.md, "Your own folder").
"""

import argparse
import json
import os

from engine.errors import UserError, run_cli
from engine.quiet import quiet_tensorflow

DEFAULT_SAMPLES = 5000
RESULT_FILE = "evaluation.json"


def parse_args(argv=None) -> argparse.Namespace:
    return make_parser().parse_args(argv)


def make_parser(parser_class=argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The command line; `Run.evaluate` (engine.api) parses its keywords with it too (engine.options)."""
    p = parser_class(prog="python -m engine.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--train-evaluator", action="store_true", help="train and cache the classifier of --dataset")
    p.add_argument("--dataset", help="dataset of the evaluator to train")
    p.add_argument("--epochs", type=int, default=6, help="evaluator training epochs (default 6)")
    p.add_argument("--image-shape", help="HxWxC, for datasets that resize (image_folder)")
    p.add_argument("--force", action="store_true", help="replace an existing evaluator")
    p.add_argument("--run-dir", help="run directory to evaluate (default: runs/latest)")
    p.add_argument(
        "--num-samples",
        type=int,
        default=DEFAULT_SAMPLES,
        help=f"generated images to score (default {DEFAULT_SAMPLES}); compare runs at equal N",
    )
    p.add_argument("--seed", type=int, default=0, help="latent seed of the generated images")
    p.add_argument(
        "--checkpoint",
        default="auto",
        metavar="{auto,best,latest,ckpt-N}",
        help="auto: the best checkpoint by FID when the run kept one, else the latest; or a kept checkpoint by name",
    )
    p.add_argument("--data-dir", help="dataset files (default: the run's, or the usual search)")
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's own log lines (hidden by default)")
    return p


def train(args) -> int:
    from engine.quality.evaluator import evaluator_dir, train_evaluator

    if not args.dataset:
        raise UserError("--train-evaluator needs --dataset (e.g. --dataset fashion_mnist)")
    if args.epochs < 1:
        raise UserError(f"--epochs {args.epochs}: must be >= 1")
    shape = image_shape(args.image_shape) if args.image_shape else None
    evaluator = train_evaluator(
        args.dataset, data_dir=args.data_dir, epochs=args.epochs, image_shape=shape, force=args.force
    )
    info = evaluator.info
    print(
        f"evaluator for {args.dataset}: test accuracy {info['test_accuracy']:.4f} on {info['test_images']} test "
        f"images (held-out train slice {info['val_accuracy']:.4f}), {info['epochs']} epochs in "
        f"{info['train_seconds']:.0f} s; saved in {evaluator_dir(args.dataset)}"
    )
    if "shipped_test_accuracy" in info:
        print(
            f"the shipped evaluator's test accuracy: {info['shipped_test_accuracy']:.4f} (yours "
            f"{info['test_accuracy'] - info['shipped_test_accuracy']:+.4f}); yours is used from now on in this cache"
        )
    return 0


def image_shape(text: str) -> tuple[int, int, int]:
    """`--image-shape HxWxC` as a tuple; raises UserError unless H, W > 0, H * W <= MAX_PIXELS and C is 1, 3 or 4."""
    from engine.config import MAX_PIXELS

    parts = text.strip().lower().split("x")
    ok = len(parts) == 3 and all(p.isascii() and p.isdigit() and len(p) <= 6 for p in parts)
    shape = tuple(int(p) for p in parts) if ok else ()
    if not ok or shape[0] < 1 or shape[1] < 1 or shape[2] not in (1, 3, 4) or shape[0] * shape[1] > MAX_PIXELS:
        raise UserError(
            f"--image-shape {text!r}: expected HxWxC with H, W > 0 (at most {MAX_PIXELS:,} pixels) and C 1, 3 or 4, "
            "e.g. 64x64x3"
        )
    return shape


# What scoring N images holds in memory at once, per image beyond the image itself: its latent, its evaluator
# features (float32, then float64 for the statistics) and its share of the distance blocks of precision/recall
# (engine.quality.manifold: 1,024 rows against all N, a few float32 temporaries).
_FEATURE_BYTES = 128 * (4 + 8 + 8)
_DISTANCE_BYTES = 3 * 1024 * 4
MEMORY_SHARE = 0.5  # of the machine's memory, for the samples: the rest is TensorFlow, the models and the data


def machine_memory() -> int:
    """Bytes of physical memory (0 when the system does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def check_sample_memory(n: int, cfg, flag: str, *, memory: int | None = None) -> None:
    """Refuses, before any work, a number of samples to score whose arrays would not fit in memory.

    Raises:
      UserError: naming the memory the request implies and the largest N that fits.
    """
    pixels = cfg.image_shape[0] * cfg.image_shape[1] * cfg.image_shape[2]
    per_image = 2 * 4 * pixels + 4 * cfg.latent_dim + _FEATURE_BYTES + _DISTANCE_BYTES  # images: generated + rescaled
    memory = machine_memory() if memory is None else memory
    limit = int(memory * MEMORY_SHARE)
    if memory and n * per_image > limit:
        shape = "x".join(str(d) for d in cfg.image_shape)
        raise UserError(
            f"{flag} {n:,} would need about {n * per_image / 2**30:,.1f} GiB ({per_image:,} bytes per {shape} "
            f"image: the images, latents, features and distance blocks), more than half of this machine's "
            f"{memory / 2**30:,.1f} GiB; use at most {limit // per_image:,} (5,000 is the usual)"
        )


def evaluate_run(
    run_dir=None,
    *,
    num_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    which: str = "auto",
    data_dir=None,
    cache_dir=None,
) -> dict:
    """Scores a run's generator and the two reference points at `num_samples`; writes <run>/evaluation.json.

    Returns:
      {"run_dir", "checkpoint", "step", "num_samples", "seed", "generator", "floor", "noise", "features", ...}
      ("evaluator" too when the features are an evaluator's). An image-folder run is scored in pixel features
      against half its folder, with at most as many samples as the other half holds (engine.quality.folder_judge).
    """
    from engine.quality.report import make_judge, to_unit_range
    from engine.quality.sampling import generate
    from engine.run import directory as rundir
    from engine.run import reading as runread

    run_path = runread.resolve(run_dir)
    cfg, opts, _ = runread.read_run(run_path)
    check_sample_memory(num_samples, cfg, "--num-samples")
    generator, meta, prefix = runread.load_generator(run_path, which=which)
    data_dir = data_dir or opts.data_dir
    judge = make_judge(cfg.dataset, data_dir=data_dir, cache_dir=cache_dir, image_shape=cfg.image_shape)
    asked, num_samples = num_samples, judge.samples(num_samples)
    images, labels = generate(
        generator, cfg, num_samples, seed=seed, labels=judge.sample_labels(num_samples, cfg.num_classes)
    )
    result = {
        "run_dir": str(run_path),
        "checkpoint": runread.checkpoint_label(prefix),
        "step": meta["step"],
        "checkpoint_sha256": meta["checkpoint_sha256"],
        "num_samples": num_samples,
        "num_samples_asked": asked,
        "seed": seed,
        "reference": {"source": judge.reference_source, "num_images": len(judge.reference_feats)},
        "features": judge.info,
        **({"evaluator": judge.info} if judge.info["features"] == "evaluator" else {}),
        "generator": judge.score(to_unit_range(images, cfg.output_range), labels, seed=seed),
        **judge.reference_points(num_samples, num_classes=cfg.num_classes, seed=seed),
    }
    with rundir.atomic_file(run_path / RESULT_FILE) as tmp:
        try:
            tmp.write_text(json.dumps(result, indent=2) + "\n")
        except OSError as e:
            raise rundir.cannot_write(run_path / RESULT_FILE, e) from None
    return result


def format_report(result: dict) -> str:
    """The human-readable table of an evaluate_run result."""
    gen = result["generator"]
    classified, accuracy, intra = "score" in gen, "class_accuracy" in gen, "intra_fid" in gen
    head = f"{'':<22}{'FID':>10}  {'KID':<20}" + (f"{'score':<12}" if classified else "")
    head += f"{'prec':>6}{'recall':>7}{'dens':>6}{'cover':>6}" + (f"{'cls ent':>8}{'max/min':>8}" if classified else "")
    head += (f"{'class acc':>11}" if accuracy else "") + (f"{'intra FID':>11}" if intra else "")
    lines = [f"{result['run_dir']}: {result['checkpoint']}; {_judged_by(result)}", head]
    floor = "floor (real train)" if classified else "floor (other half)"
    for name, key in (("generator", "generator"), (floor, "floor"), ("noise", "noise")):
        m = result[key]
        row = f"{name:<22}{m['fid']:>10.2f}  {m['kid']:>9.3g} ± {m['kid_stderr']:<8.2g}"
        row += f"{m['score']:>5.2f} ± {m['score_std']:<5.2f}" if classified else ""
        row += f"{m['precision']:>6.3f}{m['recall']:>7.3f}{m['density']:>6.2f}{m['coverage']:>6.3f}"
        row += f"{m['class_entropy']:>8.3f}{m['class_ratio']:>8.2f}" if classified else ""
        row += (f"{m['class_accuracy']:>11.3f}" if accuracy else "") + (f"{m['intra_fid']:>11.2f}" if intra else "")
        lines.append(row)
    return "\n".join(lines)


def _judged_by(result: dict) -> str:
    """The report's first line after the checkpoint: N, the reference and the features."""
    features = result.get("features") or {"features": "evaluator", **result["evaluator"]}
    if features["features"] == "evaluator":
        return (
            f"{result['num_samples']} samples vs {result['reference']['num_images']} test images "
            f"({'shipped' if features['shipped'] else 'own'} evaluator {features['sha256'][:12]}, "
            f"test accuracy {features['test_accuracy']:.4f})"
        )
    capped = result.get("num_samples_asked", result["num_samples"]) > result["num_samples"]
    return (
        f"{result['num_samples']} samples{' (the floor half holds no more)' if capped else ''} vs "
        f"{result['reference']['num_images']} of the folder's {features['folder_images']} images "
        f"(pixel features: PCA of {' + '.join(features['views'])} at "
        f"{'x'.join(map(str, features['feature_shape']))}, {features['dims']} dimensions; floor: the other half)"
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.train_evaluator:
        if args.image_shape:
            image_shape(args.image_shape)  # checked before TensorFlow starts
        quiet_tensorflow(args.verbose)
        return train(args)
    score(args)
    return 0


def score(args) -> dict:
    """What the command does to a run (`args`: its parsed arguments, without --train-evaluator): checks them, scores
    the run (evaluate_run), prints the report and where it was written; returns the result. `Run.evaluate` too."""
    if args.dataset:
        raise UserError("--dataset is for --train-evaluator; a run is evaluated on its own dataset (--run-dir)")
    if args.num_samples < 2:
        raise UserError(f"--num-samples {args.num_samples}: must be >= 2")
    if not 0 <= args.seed < 2**32:
        raise UserError(f"--seed {args.seed}: must be in [0, 2**32)")
    from engine.run.reading import resolve

    resolve(args.run_dir)  # a missing run is refused before TensorFlow starts (seconds)
    quiet_tensorflow(args.verbose)
    result = evaluate_run(
        args.run_dir, num_samples=args.num_samples, seed=args.seed, which=args.checkpoint, data_dir=args.data_dir
    )
    print(format_report(result))
    print(f"wrote {os.path.join(result['run_dir'], RESULT_FILE)}")
    return result


if __name__ == "__main__":
    run_cli(main)
