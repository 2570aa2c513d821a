"""The names in a run directory, in one place: every module that reads or writes a run spells them from here.

  config.json        {"config": Config, "options": RunOptions, "data": what it trained on, "engine_version"}
  data_files.json    a folder run's image files (path, size, mtime), what --resume compares (engine.run.data_record)
  checkpoints/       tf.train.CheckpointManager (G, D, both optimizers, step); the last few are kept
    checkpoint         the manager's list: a run "has a checkpoint" when it exists
    trained_config.json  the config the newest checkpoint was trained under
    best/              the best checkpoint by FID (engine.run.evaluation), with best.json
  samples/           epoch_NNN.png (or step_NNNNNN.png), one grid per interval from one fixed latent batch;
                     minute_M.png at each --eval-at-minutes mark
  metrics.jsonl      one JSON record per log interval
  tensorboard/       TensorBoard summaries
  generator.keras    the final generator
  export/            what the exporters write by default
Runs without `--out-dir` go to runs/<timestamp>-<preset>/, and runs/latest points at the newest.

A leaf: it imports nothing, so the export side and the benchmarks can use it without TensorFlow.
"""

RUNS_ROOT = "runs"
LATEST = "latest"  # runs/latest: the link to the newest run
CONFIG_FILE = "config.json"
DATA_FILES = "data_files.json"
CHECKPOINTS = "checkpoints"
CHECKPOINT_STATE = "checkpoint"  # under checkpoints/
TRAINED_CONFIG = "trained_config.json"  # under checkpoints/
BEST = "best"  # under checkpoints/
SAMPLES = "samples"


def minute_grid(minute: float) -> str:
    """The grid's name under samples/ when training time passed the mark `minute` (--eval-at-minutes)."""
    return f"minute_{minute:g}.png"


METRICS = "metrics.jsonl"
TENSORBOARD = "tensorboard"
GENERATOR_FILE = "generator.keras"
EXPORT = "export"
