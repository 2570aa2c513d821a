"""Training a run from a request: the one path under `python -m engine.train` (engine/train.py) and `engine.fit`
(engine/api.py).

A request is the command line's namespace, `make_parser().parse_args(argv)`; engine.fit builds its namespace with the
same parser from its keywords (engine.options), so a call and its command cannot drift apart. `train(args)` checks
what can be checked without TensorFlow, creates the strategy first (logical CPU devices are fixed when TensorFlow
starts), then runs engine.run.loop; `--dry-run` builds the models and prints what would run.
"""

import argparse
import contextlib
import dataclasses
from pathlib import Path

from engine.config import PRECISIONS, STRATEGIES, Config, RunOptions, apply_overrides, changed_except_length
from engine.errors import UserError, printable_path
from engine.presets import ENGINE_RECIPES, PUBLISHED, get_preset
from engine.quiet import quiet_tensorflow
from engine.step.precision import precision_arg

DEFAULT_PRESET = "dcgan_any_fashion"
FOLDER_PRESET = "folder"  # the default when the data is a folder of images (--dataset image_folder, or implied)
PROG = "python -m engine.train"
DESCRIPTION = "Train a GAN: `python -m engine.train [--preset NAME] [--strategy S] [--epochs N | --steps N] ...`."


def make_parser(parser_class=argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The command line of `python -m engine.train`; engine.fit parses its keywords with it too (`parser_class`:
    engine.options.RaisingParser, whose errors are raised as UserError)."""
    p = parser_class(prog=PROG, description=DESCRIPTION)
    add_config_arguments(p)
    add_run_arguments(p)
    p.add_argument("--out-dir", help="write the run here (default: runs/<timestamp>-<preset>, runs/latest -> it)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out-dir (default runs/latest)")
    p.add_argument("--dry-run", action="store_true", help="build everything, print parameter counts and the plan, exit")
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's own log lines (hidden by default)")
    return p


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """What is learned: the preset and the fields the command line may change (engine.config.Config)."""
    p.add_argument(
        "--preset",
        help=f"experiment preset (default {DEFAULT_PRESET}; {FOLDER_PRESET} for a folder of images). Tutorials as "
        f"published: {', '.join(PUBLISHED)}. Engine recipes: {', '.join(ENGINE_RECIPES)}",
    )
    p.add_argument(
        "--dataset",
        help="train on another dataset (a --data-dir holding JPEG/PNG/WebP files implies image_folder)",
    )
    p.add_argument(
        "--image-size",
        type=int,
        metavar="N",
        help="image_folder: train at N x N (default: the largest size the preset builds that is <= the images' "
        "median shorter side, at most 64 without a GPU); channels follow the images (3 when any has colour, else "
        "1; --set image_shape=NxNx1 forces grey)",
    )
    p.add_argument(
        "--unconditional",
        action="store_true",
        help="image_folder: ignore class sub-folders (by default they make the model class-conditional)",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument("--epochs", type=int)
    group.add_argument("--steps", type=int)
    p.add_argument("--batch-size", type=int, help="global batch size (split across replicas)")
    p.add_argument(
        "--precision",
        type=precision_arg,
        choices=PRECISIONS,
        metavar="{auto,float32,mixed_float16,mixed_bfloat16}",
        help="Keras mixed-precision policy for G and D (default: the preset's, float32); auto: mixed_bfloat16 on a "
        "CPU with native bfloat16 (AVX512_BF16 or AMX-BF16), else float32; exports stay float32",
    )
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config field, e.g. --set g_lr=1e-4 (repeatable)",
    )


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """How it runs (engine.config.RunOptions): every default is the dataclass's own, so they live in one place."""
    d = RunOptions()
    p.add_argument("--data-dir", help="directory holding the dataset files (searched first)")
    p.add_argument("--strategy", default=d.strategy, choices=STRATEGIES)
    p.add_argument(
        "--cpu-replicas",
        type=cpu_replicas_arg,
        default="auto",
        help="logical CPU replicas for mirrored without GPUs: N, or auto (default): the most, at most one per core, "
        "with >= 64 images each (engine.cluster.strategies.auto_cpu_replicas)",
    )
    p.add_argument(
        "--jit",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="compile the step with XLA, or not (default: on with a GPU, off on a CPU, where it measured slower: "
        "docs/benchmarks.md)",
    )
    p.add_argument(
        "--steps-per-loop",
        type=int,
        default=d.steps_per_loop,
        help="steps per Python call (device-side loop; default %(default)s)",
    )
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="op determinism and seeds: a rerun, or a killed and --resume'd run, ends with the same weights",
    )
    p.add_argument(
        "--checkpoint-every-seconds",
        type=float,
        default=d.checkpoint_every_seconds,
        metavar="S",
        help="also checkpoint when S seconds have passed since the last one (default %(default)g; 0: off)",
    )
    p.add_argument(
        "--max-consecutive-skips",
        type=int,
        default=d.max_consecutive_skips,
        metavar="K",
        help="stop after K steps in a row skipped for a non-finite loss or gradient (default %(default)s)",
    )
    p.add_argument(
        "--eval-every",
        type=int,
        default=d.eval_every,
        metavar="K",
        help="score FID/KID/classifier score every K epochs, keep the best checkpoint by FID (0: off)",
    )
    p.add_argument(
        "--eval-samples",
        type=int,
        default=d.eval_samples,
        metavar="N",
        help="images per evaluation (default %(default)s)",
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="MIN",
        help="stop after MIN minutes of training (evaluations excluded), saving everything as at the end",
    )
    p.add_argument(
        "--eval-at-minutes",
        metavar="M,M,...",
        default=",".join(f"{m:g}" for m in d.eval_at_minutes),
        help="also score when training time (evaluations excluded) passes each mark, e.g. 2,5,10",
    )


def cpu_replicas_arg(text: str) -> int | str:
    """--cpu-replicas: `auto` or a whole number (its range is RunOptions's to check)."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: auto or a whole number") from None


def pick_cpu_replicas(opts: RunOptions, cfg: Config) -> RunOptions:
    """`opts` with `--cpu-replicas auto` resolved for this machine and batch; prints what mirrored will use."""
    import tensorflow as tf  # listing devices leaves the logical CPU split to make_strategy

    from engine.cluster.strategies import auto_cpu_replicas, started_cpu_devices, usable_cores

    if opts.strategy != "mirrored" or tf.config.list_physical_devices("GPU"):  # only then is the CPU split
        return dataclasses.replace(opts, cpu_replicas=RunOptions.cpu_replicas) if opts.cpu_replicas == "auto" else opts
    if opts.cpu_replicas == "auto":
        n, why = auto_cpu_replicas(usable_cores(), cfg.batch_size)
        started = started_cpu_devices()  # a second run in one process (a notebook): the split is fixed by now
        if started is not None and n > started:
            n, why = started, f"auto: the {started} logical CPU device(s) TensorFlow started with in this process"
        opts = dataclasses.replace(opts, cpu_replicas=n)
    else:
        why = "--cpu-replicas"
    print(f"mirrored over {opts.cpu_replicas} logical CPU replica(s) ({why})")
    return opts


def build_config(args, base: Config | None = None) -> Config:
    """The preset (or `base`, the stored config of a resumed run) with the command line's changes applied."""
    folder = implied_folder(args)
    cfg = base or get_preset(args.preset or (FOLDER_PRESET if folder else DEFAULT_PRESET))
    if args.steps is not None and args.steps <= 0:
        raise UserError(f"--steps {args.steps}: must be > 0")
    if args.batch_size is not None and args.batch_size <= 0:
        raise UserError(f"--batch-size {args.batch_size}: must be > 0")
    if base and args.image_size is not None:  # a resumed run keeps its shape: a different size is reported below
        cfg = dataclasses.replace(cfg, image_shape=(args.image_size, args.image_size, cfg.image_shape[2]))
    flags = {
        "dataset": args.dataset or ("image_folder" if folder else None),
        "epochs": args.epochs,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "precision": args.precision,
    }
    changes = {k: v for k, v in flags.items() if v is not None}
    if args.epochs is not None:
        changes["steps"] = 0
    return apply_overrides(dataclasses.replace(cfg, **changes), args.overrides)


def implied_folder(args) -> bool:
    """Whether the data is a folder of images: --dataset image_folder, or no --dataset and a --data-dir holding
    JPEG/PNG/WebP files."""
    from engine.data.image_folder import EXTENSIONS, NAME, holds_images

    if args.data_dir and Path(args.data_dir).expanduser().is_file():
        kind = "an image file" if args.data_dir.lower().endswith(EXTENSIONS) else "a file"
        raise UserError(
            f"--data-dir {printable_path(args.data_dir)} is {kind}, not a folder; pass the folder that holds the "
            "images (searched recursively), or the folder of a dataset's files"
        )
    if args.dataset is not None:
        return args.dataset == NAME
    return bool(args.data_dir) and holds_images(args.data_dir)


def fit_to_folder(args, cfg: Config) -> tuple[Config, float]:
    """For an image_folder run, `cfg` with the shape (and model) picked from the folder's images, and the minutes
    to train for when the command asked for no length (0: the preset's steps); prints what was picked, or how a
    fixed-shape preset converts them (engine.run.folder_plan)."""
    from engine.data.image_folder import NAME, summarise

    if cfg.dataset != NAME:
        if args.image_size is not None or args.unconditional:
            flag = "--image-size" if args.image_size is not None else "--unconditional"
            raise UserError(f"{flag} is for a folder of images (dataset image_folder), not {cfg.dataset}")
        return cfg, 0.0
    if not args.data_dir:
        raise UserError(f"{NAME} needs --data-dir DIR (a folder of JPEG/PNG/WebP files, searched recursively)")
    summary = summarise(args.data_dir)
    quiet_tensorflow(args.verbose)
    import tensorflow as tf  # the families are Keras models; no device is set up by importing them

    from engine import models
    from engine.run import folder_plan as folder

    family = models.MODELS.get_or_fail(cfg.model)
    if args.overrides and any(pair.split("=", 1)[0].strip() == "image_shape" for pair in args.overrides):
        folder.check_shape(cfg, family, "--set image_shape")
        family = dataclasses.replace(family, any_size=False)  # the user set the shape: keep it, say what converts
    gpu = bool(tf.config.list_physical_devices("GPU"))
    cfg, line = folder.resolve(
        cfg, summary, family, image_size=args.image_size, unconditional=args.unconditional, gpu=gpu
    )
    if line:
        print(line)
    set_keys = {pair.split("=", 1)[0].strip() for pair in args.overrides or ()}
    asked = args.preset is not None or bool({"steps", "epochs"} & set_keys)
    asked = asked or any(x is not None for x in (args.steps, args.epochs, args.time_limit))
    # multi_worker stops by steps only (the workers' clocks would disagree): the preset's steps there
    minutes, line = folder.plan_minutes(gpu=gpu, asked=asked or args.strategy == "multi_worker")
    if line:
        print(line)
    return cfg, minutes


def resume_config(args, run) -> Config:
    """The stored config of the run being resumed (`run`: a rundir.RunDir); the command line may change only its
    length."""
    run_dir, stored = run.path, run.stored_config()
    if args.unconditional and stored.num_classes:
        raise UserError(
            f"--resume {run_dir}: the run is class-conditional ({stored.num_classes} classes), and a run keeps its "
            "model; drop --unconditional, or start a new run with it"
        )
    if args.preset and args.preset != stored.preset:
        raise UserError(
            f"--resume {run_dir}: the run is preset {stored.preset!r}, not {args.preset!r}; "
            "drop --preset or start a new run"
        )
    wanted = build_config(args, base=stored)
    changed = changed_except_length(stored, wanted)
    if changed:
        diffs = ", ".join(f"{k}: run has {getattr(stored, k)!r}, asked {getattr(wanted, k)!r}" for k in changed)
        raise UserError(
            f"--resume {run_dir}: the run differs from what was asked ({diffs}); "
            "resume without those options, or start a new run"
        )
    return wanted


def minutes(text: str) -> tuple[float, ...]:
    try:
        marks = tuple(sorted(float(m) for m in text.split(",") if m.strip()))
    except ValueError:
        marks = (-1.0,)
    if not all(0 < m < float("inf") for m in marks):  # also refuses nan
        raise UserError(f"--eval-at-minutes {text!r}: expected numbers > 0 separated by commas, e.g. 2,5,10") from None
    return marks


def run_options(args) -> RunOptions:
    """The run options of a parsed command line (engine.run.folder_plan may add a time limit later)."""
    return RunOptions(
        strategy=args.strategy,
        cpu_replicas=args.cpu_replicas,
        jit_compile="auto" if args.jit is None else args.jit,
        steps_per_loop=args.steps_per_loop,
        data_dir=args.data_dir,
        eval_every=args.eval_every,
        eval_samples=args.eval_samples,
        eval_at_minutes=minutes(args.eval_at_minutes),
        time_limit_min=args.time_limit or 0.0,
        deterministic=args.deterministic,
        checkpoint_every_seconds=args.checkpoint_every_seconds,
        max_consecutive_skips=args.max_consecutive_skips,
    )


def train(args, *, until_exit: bool = False) -> dict:
    """Trains what the request `args` asks for (a new run, or with `args.resume` the run in `args.out_dir`).

    Args:
      until_exit: the caller is a command that exits right after (engine.run.stopping: a signal after a stop is
        noted, never raised).
    Returns:
      The loop's summary ({"run_dir", "step", "trained", losses...}) with "chief": whether this process kept the
      run (False on a multi_worker worker other than the chief); {"dry_run": True} for `args.dry_run`.
    Raises:
      UserError: bad input, one line naming the fix, before any work starts where it can be checked then.
      Stopped: SIGTERM / SIGINT (or a KeyboardInterrupt in the loop): a checkpoint was saved at the current step;
        its `run_dir` is the run's.
    """
    opts = run_options(args)
    from engine.cluster.tf_config import is_chief, parse_tf_config
    from engine.run import directory as rundir

    # Only the chief of a multi-worker cluster writes (and locks) the run; TF_CONFIG is checked here, before
    # TensorFlow starts.
    chief = is_chief(parse_tf_config()) if opts.strategy == "multi_worker" else True
    cfg, planned = (None, 0.0) if args.resume else fit_to_folder(args, build_config(args))
    if planned:
        opts = dataclasses.replace(opts, time_limit_min=planned)
    preset = cfg.preset if cfg else args.preset or DEFAULT_PRESET
    # Leaving this block on an error removes a new run that has no checkpoint yet (rundir.prepare).
    with rundir.prepare(args.out_dir, preset, resume=args.resume, chief=chief) as run:
        if args.resume:
            cfg = resume_config(args, run)
            from engine.run.data_record import resumed_data_dir  # the run knows its folder: --data-dir may be left out

            opts = dataclasses.replace(opts, data_dir=resumed_data_dir(run.path, cfg, opts.data_dir))
        from engine.data.registry import DATASETS

        DATASETS.get_or_fail(cfg.dataset)  # names are checked before any work starts
        evaluating = bool(opts.eval_every or opts.eval_at_minutes)
        if evaluating:
            from engine.evaluate import check_sample_memory

            check_sample_memory(opts.eval_samples, cfg, "--eval-samples")
        # The first TensorFlow import (silenced): the names, flags, config and run directory were checked without it.
        quiet_tensorflow(args.verbose)
        from engine.cluster.strategies import make_strategy, peer_failures_as_errors

        opts = pick_cpu_replicas(opts, cfg)
        strategy = make_strategy(opts.strategy, opts.cpu_replicas)
        if args.dry_run:
            dry_run(cfg, opts, strategy)
            return {"dry_run": True}
        from engine.run import loop

        with peer_failures_as_errors(opts.strategy), out_of_memory_as_error(cfg, opts):
            setup = loop.set_up(cfg, opts, strategy)
            if evaluating:  # a missing evaluator is refused before the run directory is made
                from engine.quality.report import check_judge  # an image folder: its pixel features, fitted here

                check_judge(cfg.dataset, data_dir=opts.data_dir, image_shape=cfg.image_shape)
            summary = loop.run(setup, run.open(), resume=args.resume, kept=chief, until_exit=until_exit)
    return {**summary, "chief": chief}


@contextlib.contextmanager
def out_of_memory_as_error(cfg: Config, opts: RunOptions):
    """Running out of memory (NumPy's MemoryError, TensorFlow's OOM) as one line naming the sizes to lower, not a
    traceback; sizes the config can bound are refused before any work starts (engine.config)."""
    import tensorflow as tf

    try:
        yield
    except (MemoryError, tf.errors.ResourceExhaustedError) as e:
        if isinstance(e, tf.errors.ResourceExhaustedError) and "OOM" not in str(e) and "memory" not in str(e):
            raise
        raise UserError(
            f"out of memory ({type(e).__name__}) with batch_size={cfg.batch_size}, latent_dim={cfg.latent_dim}, "
            f"image_shape={cfg.image_shape}, sample_count={cfg.sample_count}"
            + (f", --eval-samples {opts.eval_samples}" if opts.eval_every or opts.eval_at_minutes else "")
            + "; lower them"
        ) from None


def layer_table(model) -> str:
    """Each layer's name, type, output shape and parameter count, like the tutorials' `model.summary()`."""
    rows = [("layer", "type", "output shape", "params")]
    for layer in model.layers:
        outputs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
        shape = ", ".join(str(tuple(o.shape)) for o in outputs)
        rows.append((layer.name, type(layer).__name__, shape, f"{layer.count_params():,}"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d:>{widths[3]}}" for a, b, c, d in rows]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def dry_run(cfg: Config, opts: RunOptions, strategy) -> None:
    from engine.cluster.strategies import resolve_jit
    from engine.step.gan import GAN

    with strategy.scope():
        gan = GAN(cfg)
    jit = resolve_jit(opts, strategy)
    from engine.run.folder_plan import shape_text

    print(f"preset {cfg.preset} (model {cfg.model}, dataset {cfg.dataset}, image {shape_text(cfg.image_shape)})")
    for name, network in (("generator", gan.generator), ("discriminator", gan.discriminator)):
        print(f"\n{layer_table(network)}\n{name} parameters: {network.count_params():,}")
    print(
        f"strategy {opts.strategy}: {strategy.num_replicas_in_sync} replica(s), xla {'on' if jit else 'off'}, "
        f"global batch {cfg.batch_size}, {cfg.steps or cfg.epochs} {'steps' if cfg.steps else 'epochs'}"
        + (f", stopping after {opts.time_limit_min:g} minutes of training" if opts.time_limit_min else "")
    )
