"""Evaluation during training: every K epochs (and/or at marks of training minutes) score the sampler, log the
numbers, keep the best checkpoint by FID.

Called from engine.run.loop at each epoch end; the loop stays in charge of when, this module of what.
"""

import json
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.config import Config, RunOptions
from engine.quality.registry import logged_names
from engine.quality.report import make_judge, to_unit_range
from engine.quality.sampling import generate
from engine.run import directory as rundir
from engine.run import reading as runread

LOGGED = logged_names()  # the scalars each registered metric names (engine.quality.registry)
EVAL_SEED = 1234  # one fixed latent set for every evaluation of a run, so epochs differ only by the weights


class TrainingEvaluation:
    """Scores `gan.sampler` (the EMA generator when on) and keeps checkpoints/best/ (one checkpoint) + best.json.

    Construct it before the first step: a missing evaluator fails the run at start, not at the first epoch end.
    """

    def __init__(self, cfg: Config, opts: RunOptions, run_dir: Path, checkpoint):
        import tensorflow as tf

        self.cfg, self.every = cfg, opts.eval_every
        self.marks = list(opts.eval_at_minutes)  # training minutes still to evaluate at
        self.judge = make_judge(cfg.dataset, data_dir=opts.data_dir, image_shape=cfg.image_shape)
        self.num_samples = self.judge.samples(opts.eval_samples)  # a folder's floor holds at most half its images
        if self.num_samples < opts.eval_samples:
            print(
                f"note: evaluating with {self.num_samples} samples, not {opts.eval_samples}: the floor of this "
                "folder (half its images) holds no more, and every score is at the floor's N"
            )
        self.labels = self.judge.sample_labels(self.num_samples, cfg.num_classes)
        best_dir = Path(run_dir) / rundir.CHECKPOINTS / rundir.BEST
        self.info_path = best_dir / runread.BEST_INFO
        self.manager = tf.train.CheckpointManager(checkpoint, str(best_dir), max_to_keep=1)
        self.best = json.loads(self.info_path.read_text()) if self.info_path.exists() else None  # kept on resume

    @classmethod
    def start(cls, cfg: Config, opts: RunOptions, run_dir: Path, checkpoint) -> "TrainingEvaluation | None":
        """The evaluation of this run, or None when neither `opts.eval_every` nor `opts.eval_at_minutes` is set."""
        return cls(cfg, opts, run_dir, checkpoint) if opts.eval_every or opts.eval_at_minutes else None

    def at(self, gan, *, step: int, epoch: int, epoch_end: bool, last: bool, train_s: float = 0.0) -> dict:
        """Metrics to log at this point of the run ({} when no evaluation is due): every K-th epoch, when training
        time has passed the next minute mark (all marks passed count once), and at the end."""
        by_epoch = bool(self.every) and epoch_end and epoch % self.every == 0
        passed = [m for m in self.marks if train_s >= 60.0 * m]
        self.marks = [m for m in self.marks if train_s < 60.0 * m]
        if not (by_epoch or passed or last):
            return {}
        images, labels = generate(gan.sampler, self.cfg, self.num_samples, seed=EVAL_SEED, labels=self.labels)
        if not np.all(np.isfinite(images)):  # never score, let alone keep as best, a generator that outputs NaN
            tqdm.write(f"warning: step {step}: the generator's outputs are not finite; evaluation skipped")
            return {}
        result = self.judge.score(to_unit_range(images, self.cfg.output_range), labels)
        if self.best is None or result["fid"] < self.best["fid"]:
            self.manager.save(checkpoint_number=step)
            self.best = {"step": step, "fid": result["fid"], "num_samples": self.num_samples}
            tmp = self.info_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.best, indent=2) + "\n")
            os.replace(tmp, self.info_path)
        classes = (
            f"score {result['score']:.2f}, class entropy {result['class_entropy']:.3f}, " if "score" in result else ""
        )
        tqdm.write(
            f"step {step}: FID {result['fid']:.2f}, KID {result['kid']:.4f}, {classes}"
            f"precision {result['precision']:.2f}, recall {result['recall']:.2f} "
            f"({self.num_samples} samples; best FID {self.best['fid']:.2f} at step {self.best['step']})"
        )
        mark = {"at_minute": max(passed)} if passed else {}  # the training loop draws a grid there
        return {k: result[k] for k in LOGGED if k in result} | mark
