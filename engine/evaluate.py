"""Measure generation quality.

  python -m engine.evaluate --train-evaluator --dataset D [--data-dir DIR] [--epochs E] [--force]
  python -m engine.evaluate --run-dir DIR [--num-samples N] [--seed S] [--checkpoint auto|best|latest]

The first trains and caches the dataset's classifier (the judge); the second scores a run's generator against the
dataset's test split with FID, KID, the classifier score, precision/recall and density/coverage (k-NN manifolds
in the evaluator's feature space) and the class balance of the generated images (plus class accuracy and
intra-class FID for conditional runs), next to the floor (real train vs test images) and noise, all at the same
N, and writes <run-dir>/evaluation.json.
"""

import argparse
import json
import os

from engine.errors import UserError, run_cli
from engine.quiet import quiet_tensorflow

DEFAULT_SAMPLES = 5000
RESULT_FILE = "evaluation.json"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m engine.evaluate", description=__doc__.split("\n")[0])
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
        choices=("auto", "best", "latest"),
        help="auto: the best checkpoint by FID when the run kept one, else the latest",
    )
    p.add_argument("--data-dir", help="dataset files (default: the run's, or the usual search)")
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's own log lines (hidden by default)")
    return p.parse_args(argv)


def train(args) -> int:
    from engine.quality.evaluator import evaluator_dir, train_evaluator

    if not args.dataset:
        raise UserError("--train-evaluator needs --dataset (e.g. --dataset fashion_mnist)")
    if args.epochs < 1:
        raise UserError(f"--epochs {args.epochs}: must be >= 1")
    shape = tuple(int(v) for v in args.image_shape.lower().split("x")) if args.image_shape else None
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
      {"run_dir", "checkpoint", "step", "num_samples", "seed", "generator", "floor", "noise", "evaluator", ...}
    """
    from engine import rundir
    from engine.quality.report import Judge, to_unit_range
    from engine.quality.sampling import generate

    run_path = rundir.resolve(run_dir)
    cfg, opts, _ = rundir.read_run(run_path)
    generator, meta, prefix = rundir.load_generator(run_path, which=which)
    data_dir = data_dir or opts.data_dir
    judge = Judge(cfg.dataset, data_dir=data_dir, cache_dir=cache_dir, image_shape=cfg.image_shape)
    images, labels = generate(generator, cfg, num_samples, seed=seed)
    result = {
        "run_dir": str(run_path),
        "checkpoint": rundir.checkpoint_label(prefix),
        "step": meta["step"],
        "checkpoint_sha256": meta["checkpoint_sha256"],
        "num_samples": num_samples,
        "seed": seed,
        "reference": {"source": judge.reference_source, "num_images": len(judge.reference_feats)},
        "evaluator": {
            k: judge.evaluator.info[k] for k in ("test_accuracy", "source", "trained_at", "sha256", "shipped")
        },
        "generator": judge.score(to_unit_range(images, cfg.output_range), labels, seed=seed),
        **judge.reference_points(num_samples, num_classes=cfg.num_classes, seed=seed),
    }
    (run_path / RESULT_FILE).write_text(json.dumps(result, indent=2) + "\n")
    return result


def format_report(result: dict) -> str:
    """The human-readable table of an evaluate_run result."""
    conditional = "class_accuracy" in result["generator"]
    head = (
        f"{'':<22}{'FID':>10}  {'KID':<20}{'score':<12}{'prec':>6}{'recall':>7}{'dens':>6}{'cover':>6}"
        f"{'cls ent':>8}{'max/min':>8}"
    )
    if conditional:
        head += f"{'class acc':>11}{'intra FID':>11}"
    lines = [
        f"{result['run_dir']}: {result['checkpoint']}; {result['num_samples']} samples vs "
        f"{result['reference']['num_images']} test images ({'shipped' if result['evaluator']['shipped'] else 'own'} "
        f"evaluator {result['evaluator']['sha256'][:12]}, test accuracy {result['evaluator']['test_accuracy']:.4f})",
        head,
    ]
    for name, key in (("generator", "generator"), ("floor (real train)", "floor"), ("noise", "noise")):
        m = result[key]
        row = (
            f"{name:<22}{m['fid']:>10.2f}  {m['kid']:>9.3g} ± {m['kid_stderr']:<8.2g}"
            f"{m['score']:>5.2f} ± {m['score_std']:<5.2f}{m['precision']:>6.3f}{m['recall']:>7.3f}"
            f"{m['density']:>6.2f}{m['coverage']:>6.3f}{m['class_entropy']:>8.3f}{m['class_ratio']:>8.2f}"
        )
        if conditional:
            row += f"{m['class_accuracy']:>11.3f}{m['intra_fid']:>11.2f}"
        lines.append(row)
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    quiet_tensorflow(args.verbose)
    if args.train_evaluator:
        return train(args)
    if args.dataset:
        raise UserError("--dataset is for --train-evaluator; a run is evaluated on its own dataset (--run-dir)")
    if args.num_samples < 2:
        raise UserError(f"--num-samples {args.num_samples}: must be >= 2")
    result = evaluate_run(
        args.run_dir, num_samples=args.num_samples, seed=args.seed, which=args.checkpoint, data_dir=args.data_dir
    )
    print(format_report(result))
    print(f"wrote {os.path.join(result['run_dir'], RESULT_FILE)}")
    return 0


if __name__ == "__main__":
    run_cli(main)
