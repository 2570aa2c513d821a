"""Train a GAN: `python -m engine.train [--preset NAME] [--strategy S] [--epochs N | --steps N] ...`.

The command line over engine.training, the path `engine.fit` takes too: parses the arguments, trains
(engine.training.train) and prints what to do next with the run. `--dry-run` builds the models and prints what would
run.
"""

from engine.errors import run_cli
from engine.training import (  # noqa: F401  (the request's pieces, re-exported for the command line's callers)
    DEFAULT_PRESET,
    FOLDER_PRESET,
    add_config_arguments,
    add_run_arguments,
    build_config,
    cpu_replicas_arg,
    fit_to_folder,
    implied_folder,
    make_parser,
    resume_config,
    run_options,
)
from engine.training import train as train_request


def parse_args(argv=None):
    return make_parser().parse_args(argv)


def main(argv=None) -> int:
    summary = train_request(parse_args(argv), until_exit=True)
    if summary.get("trained") and summary.get("chief"):
        print(next_steps(summary["run_dir"]))
    return 0


def next_steps(run_dir: str) -> str:
    """What to do with a finished run: export, sample, evaluate, look at the curves (paths shell-quoted, so each
    line can be pasted as it is)."""
    from engine.run.directory import shell_path

    run, onnx, logs = (shell_path(p) for p in (run_dir, f"{run_dir}/export/generator.onnx", f"{run_dir}/tensorboard"))
    return "\n".join(
        [
            "next:",
            f"  python -m export.onnx --run-dir {run}        # or export.tflite / export.savedmodel",
            f"  python -m export.sample {onnx} --out grid.png   # samples, no TensorFlow",
            f"  python -m engine.evaluate --run-dir {run}    # FID, precision/recall, class balance",
            f"  tensorboard --logdir {logs}",
        ]
    )


if __name__ == "__main__":
    run_cli(main)
