"""The engine as a Python library (docs/python.md): `engine.fit(...)` trains a run and returns a `Run`;
`engine.open_run(path)` reopens one; a `Run` samples, shows grids, evaluates, exports and resumes.

Each call is its command line, through the command's own parser and code (engine.options): `fit` is
`python -m engine.train`, `Run.resume` its `--resume`, `Run.evaluate` `python -m engine.evaluate`, `Run.export`
`python -m export.<format>`. They print what the commands print, and raise their one-line `UserError`s instead of
exiting. SIGINT (Jupyter's stop button), SIGTERM or a KeyboardInterrupt during training saves a checkpoint and the
call returns the `Run`.

Within one process (a Jupyter kernel), what TensorFlow fixes when it starts stays fixed: the logical CPU devices
`mirrored` splits the CPU into (a later run asking for more is refused, naming the fix: restart the kernel), and
`deterministic` once turned on. `multi_worker` is one process per worker: `python -m engine.launch`.

The one reach from engine into export: `Run.export` imports the exporter's module by its name (`EXPORTERS`) when
called, never at import time (tests/test_layering.py).
"""

import importlib
import json
import re
from pathlib import Path

import numpy as np

from engine.errors import Stopped, UserError
from engine.quiet import quiet_tensorflow
from engine.run.layout import CHECKPOINT_STATE, CHECKPOINTS, METRICS

# The export formats and the module whose `COMMAND` (export.common.Command) writes each, imported when called.
EXPORTERS = {"onnx": "export.onnx", "tflite": "export.tflite", "savedmodel": "export.savedmodel"}
SAMPLE_CHUNK = 1024  # rows per generator call in Run.sample, as export.runtime's Generator.sample
FIT_ONLY = ("resume", "dry_run", "overrides", "time_limit")  # command-line options fit takes otherwise, or not at all


def fit(
    data_dir=None,
    preset: str | None = None,
    minutes: float | None = None,
    steps: int | None = None,
    image_size: int | None = None,
    strategy: str | None = None,
    out_dir=None,
    **overrides,
) -> "Run":
    """Trains a new run, as `python -m engine.train` does with the same options, and returns it.

    Args:
      data_dir: `--data-dir`: a folder of images (the `folder` preset, shape and length picked from them), or a
        dataset's files; None: the preset's dataset, found where the command finds it.
      preset: `--preset` (default `dcgan_any_fashion`; `folder` for a folder of images).
      minutes: `--time-limit`: stop after this many minutes of training, saving everything as at the end.
      steps: `--steps`.
      image_size: `--image-size` (a folder of images).
      strategy: `--strategy`: default, one_device or mirrored (multi_worker: `python -m engine.launch`).
      out_dir: `--out-dir` (default runs/<timestamp>-<preset>, runs/latest pointing at it).
      **overrides: any other option of the command by its name (`batch_size=64`, `epochs=2`, `eval_every=1`,
        `cpu_replicas=2`, `jit=False`, `deterministic=True`, `verbose=True`, ...), and any config key, as
        `--set KEY=VALUE` (`g_lr=1e-4`, `ema_decay=0.999`).
    Returns:
      The Run, trained to its end, its time limit, or the interrupt that stopped it (a checkpoint saved).
    Raises:
      UserError: what the command refuses, in its one line.
    """
    keywords = dict(data_dir=data_dir, preset=preset, time_limit=minutes, steps=steps, image_size=image_size)
    keywords.update(strategy=strategy, out_dir=out_dir)
    return _train(_request("engine.fit()", keywords, overrides))


def open_run(path=None) -> "Run":
    """The run at `path` (default runs/latest, as the commands take it).

    Raises:
      UserError: no such directory, or not a run.
    """
    return Run(path)


class Run:
    """A run directory, read back: `dir` (its absolute path), `config`, `metrics`, `generator` and the calls below.

    Every call reads the directory as it is now, so a Run follows a training that goes on elsewhere.
    """

    def __init__(self, path=None):
        from engine.run import reading

        self.dir = reading.resolve(path)
        reading.read_run(self.dir)  # a run, readable: refused here rather than at the first call
        self._loaded = None  # (checkpoint prefix, its index file's mtime, the generator) of the last `generator`

    def __repr__(self) -> str:
        step = self.step
        return f"Run({str(self.dir)!r}: {self.config.preset}, step {step if step is not None else 'none yet'})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Run) and other.dir == self.dir

    def __hash__(self) -> int:
        return hash(self.dir)

    @property
    def config(self):
        """The run's engine.config.Config (its config.json)."""
        from engine.run import reading

        return reading.read_run(self.dir)[0]

    @property
    def options(self):
        """How it ran: its engine.config.RunOptions."""
        from engine.run import reading

        return reading.read_run(self.dir)[1]

    @property
    def class_names(self) -> tuple[str, ...]:
        """The dataset's class names (a folder's sub-folders), as the run recorded them."""
        from engine.run import reading

        return reading.read_run(self.dir)[2]

    @property
    def step(self) -> int | None:
        """The step of the newest checkpoint (None before the first)."""
        state = self.dir / CHECKPOINTS / CHECKPOINT_STATE
        try:
            found = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', state.read_text(), re.MULTILINE)
        except (OSError, UnicodeDecodeError):
            return None
        return int(found.group(1)) if found else None

    @property
    def metrics(self):
        """metrics.jsonl: one dict per record (step, epoch, losses, images/s, scores on evaluated steps), as a
        pandas DataFrame when pandas can be imported (it is never required)."""
        records = []
        path = self.dir / METRICS
        lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:  # a line cut short by a kill: the run's own reader skips it too
                continue
            if isinstance(record, dict):
                records.append(record)
        try:
            import pandas
        except ImportError:
            return records
        return pandas.DataFrame.from_records(records)

    @property
    def generator(self):
        """The generator as a Keras model, float32, with the weights exports take: the best checkpoint by FID when
        the run kept one (`eval_every`), else the newest (the EMA weights when the run kept an EMA of G)."""
        return self._generator("auto")

    def _generator(self, checkpoint: str):
        quiet_tensorflow()
        from engine.run import reading

        prefix = reading.choose_checkpoint(self.dir, checkpoint)
        key = (prefix, _mtime(prefix + ".index"))  # a resumed run may write a checkpoint of the same name again
        if self._loaded is None or self._loaded[0] != key:
            self._loaded = (key, reading.load_generator(self.dir, which=checkpoint)[0])
        return self._loaded[1]

    def sample(self, n: int, *, seed: int | None = 0, labels=None, checkpoint: str = "auto") -> np.ndarray:
        """n images from the generator, uint8 [n, H, W, C].

        Args:
          seed: of the latents (None: fresh ones). The latents are those export.runtime draws for the same seed,
            so an exported file's `sample_uint8(n, seed=seed)` shows the same images (up to its rounding).
          labels: a conditional run's classes: one int for all, or n ints; None cycles through every class.
          checkpoint: auto (as `generator`), best, latest, or a kept checkpoint's name (ckpt-N).
        Raises:
          UserError: n < 1, labels that do not fit the run, or no such checkpoint.
        """
        from imagegrid import to_uint8

        n = _count(n, "n")
        cfg = self.config
        labels = _labels(labels, n, cfg.num_classes)
        generator = self._generator(checkpoint)
        rng, out = np.random.default_rng(seed), np.empty((n, *cfg.image_shape), np.uint8)
        for start in range(0, n, SAMPLE_CHUNK):  # one latent stream, whatever the chunks (as the runtime's)
            rows = min(SAMPLE_CHUNK, n - start)
            z = latents(rng, rows, cfg.latent_dim, cfg.latent_distribution)
            inputs = z if labels is None else [z, labels[start : start + rows]]
            out[start : start + rows] = to_uint8(np.asarray(generator(inputs, training=False)), cfg.output_range)
        return out

    def grid(
        self,
        n: int = 64,
        *,
        seed: int | None = 0,
        labels=None,
        cols: int | None = None,
        pad: int = 2,
        scale: int = 1,
        checkpoint: str = "auto",
    ):
        """`sample(n, ...)` tiled into one PIL image (shown in a Jupyter cell), enlarged `scale` times; a
        conditional run's classes one per column, as export.runtime's `Generator.grid_image` lays them out."""
        from imagegrid import make_grid, to_image

        if cols is None and self.config.num_classes and labels is None:
            cols = min(self.config.num_classes, _count(n, "n"))
        images = self.sample(n, seed=seed, labels=labels, checkpoint=checkpoint)
        try:
            return to_image(make_grid(images, cols=cols, pad=pad), scale)
        except ValueError as e:
            raise UserError(str(e)) from None

    def evaluate(
        self,
        num_samples: int | None = None,
        *,
        seed: int | None = None,
        checkpoint: str | None = None,
        data_dir=None,
        verbose: bool = False,
    ) -> dict:
        """`python -m engine.evaluate --run-dir DIR` (None: the command's default, 5,000 samples): prints its table
        and writes evaluation.json; returns the result (its "generator" entry holds FID, KID, precision, ...; "floor"
        and "noise" the reference points at the same N)."""
        from engine import evaluate
        from engine.options import RaisingParser, to_argv

        parser = evaluate.make_parser(RaisingParser)
        keywords = dict(run_dir=self.dir, num_samples=num_samples, seed=seed, checkpoint=checkpoint)
        keywords.update(data_dir=data_dir, verbose=verbose)
        return evaluate.score(parser.parse_args(to_argv(parser, keywords, who="Run.evaluate()")))

    def export(self, format: str = "onnx", out=None, *, force: bool = False, verbose: bool = False, **variant) -> Path:
        """`python -m export.<format> --run-dir DIR`: writes the file (default under the run's export/), verified
        against the Keras generator before it is reported written, its sidecar and model card; returns its path.

        Args:
          format: onnx, tflite or savedmodel.
          out, force: `--out`, `--force` (replace a previous export there).
          **variant: the exporter's own options by name: onnx `fp16=True`, `nchw=True`, `quantize="dynamic"`,
            `opset=17`; tflite `quantize="none|float16|dynamic|int8"`; any `plain=True` (docs/export.md).
        Raises:
          UserError: as the command's `error:` line.
        """
        if format not in EXPORTERS:
            raise UserError(f"Run.export: unknown format {format!r}; valid: {', '.join(EXPORTERS)}")
        command = importlib.import_module(EXPORTERS[format]).COMMAND  # by name: engine never imports export
        return Path(command.call(self.dir, out, force=force, verbose=verbose, **variant))

    def resume(self, steps: int | None = None, minutes: float | None = None, **options) -> "Run":
        """Trains this run further, as `python -m engine.train --resume --out-dir DIR`: from its newest checkpoint
        that reads back whole, to `steps` (or `epochs=N`) in all, for at most `minutes` more minutes of training.

        `options`: the command's run options by name (`strategy`, `eval_every`, ...); the config may not change
        (the command's refusal says so). Returns this Run.
        """
        keywords = dict(resume=True, out_dir=self.dir, steps=steps, time_limit=minutes)
        return _train(_request("Run.resume()", keywords, options))


def latents(rng: np.random.Generator, n: int, latent_dim: int, distribution: str) -> np.ndarray:
    """n float32 latents from `rng`: the stream export.runtime.draw_latents draws (a test checks), so a seed gives
    the same images from a run and from its exported files."""
    if distribution == "uniform":
        return rng.random((n, latent_dim), dtype=np.float32)
    return rng.standard_normal((n, latent_dim), dtype=np.float32)


def _request(who: str, keywords: dict, overrides: dict):
    """The command line's namespace for `keywords` (its options by name) and `overrides` (more of its options, or
    config keys, which become `--set KEY=VALUE`)."""
    from dataclasses import fields

    from engine.config import Config
    from engine.options import RaisingParser, options, spell, to_argv
    from engine.training import make_parser

    parser = make_parser(RaisingParser)
    allowed = set(options(parser)) - set(FIT_ONLY) - set(keywords)
    config_keys = {f.name for f in fields(Config)} - {"preset"}
    sets = []
    for key, value in overrides.items():
        if key == "time_limit":
            raise UserError(f"{who}: the command's --time-limit is minutes= here")
        if key in allowed:
            keywords[key] = value
        elif key in config_keys:
            sets.append(f"{key}={'none' if value is None else spell(value)}")
        else:
            raise UserError(
                f"{who} got an unexpected keyword {key!r}; valid: the command's options ({', '.join(sorted(allowed))})"
                f" and the config's keys ({', '.join(sorted(config_keys))})"
            )
    args = parser.parse_args(to_argv(parser, {**keywords, "overrides": sets}, who=who))
    if args.strategy == "multi_worker":
        raise UserError(
            f"{who}: strategy multi_worker runs one process per worker, started together: use `python -m "
            "engine.launch --workers N -- ...` (docs/distributed.md); in one process, use default, one_device or "
            "mirrored"
        )
    return args


def _train(args) -> Run:
    """engine.training.train on the request; an interrupt (a checkpoint saved) returns the Run too."""
    from engine.training import train

    try:
        summary = train(args)
    except Stopped as e:
        print(f"{e} (in Python: run.resume())", flush=True)
        return Run(e.run_dir)
    return Run(summary["run_dir"])


def _count(n, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise UserError(f"{name}={n!r}: expected a whole number >= 1")
    return int(n)


def _labels(labels, n: int, num_classes: int) -> np.ndarray | None:
    """`labels` as int32 [n] for a conditional run (None: every class in turn), checked; None for an
    unconditional one."""
    if not num_classes:
        if labels is not None:
            raise UserError("labels=: this run's generator is unconditional; leave labels out")
        return None
    if labels is None:
        return (np.arange(n) % num_classes).astype(np.int32)
    values = np.full(n, labels) if np.ndim(labels) == 0 else np.asarray(labels)
    want = f"labels=: one class, or {n} (one per image), each a whole number in [0, {num_classes})"
    if not np.issubdtype(values.dtype, np.integer) or values.shape != (n,):
        raise UserError(f"{want}; got {values.dtype} {list(values.shape)}")
    if values.min() < 0 or values.max() >= num_classes:
        raise UserError(f"{want}; got values from {values.min()} to {values.max()}")
    return values.astype(np.int32)


def _mtime(path: str) -> int | None:
    try:
        return Path(path).stat().st_mtime_ns
    except OSError:
        return None
