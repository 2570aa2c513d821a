"""What a run needs before it writes anything, and its traced step ready to call.

`set_up` loads the data, plans the steps and builds the models (nothing is written yet, so a bad input leaves
nothing behind); `make_stepper` is the traced step over the data, ready to call: the loop's (engine.run.loop) and the
benchmarks'.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import keras
import tensorflow as tf

from engine.cluster.strategies import jit_unsupported_reason, resolve_jit
from engine.config import Config, RunOptions
from engine.data import ImageData
from engine.data.pipeline import check_compatible, distribute, make_dataset
from engine.data.registry import load_dataset
from engine.errors import UserError
from engine.run import data_record
from engine.step.gan import GAN
from engine.step.traced import make_train_fn


@dataclass(frozen=True)
class Plan:
    """How many steps a run takes, derived from the config, the data size and the replicas."""

    steps_per_epoch: int
    total_steps: int
    replicas: int

    @classmethod
    def make(cls, cfg: Config, num_images: int, replicas: int) -> "Plan":
        if cfg.batch_size < replicas:
            raise UserError(
                f"batch_size {cfg.batch_size} is smaller than the {replicas} replicas; use at least {replicas}"
            )
        if cfg.batch_size % replicas:
            raise UserError(
                f"batch_size {cfg.batch_size} does not split evenly across {replicas} replicas; "
                f"use a multiple of {replicas}"
            )
        per_epoch = cfg.steps_per_epoch or max(1, num_images // cfg.batch_size)
        return cls(per_epoch, cfg.steps or cfg.epochs * per_epoch, replicas)


@dataclass(frozen=True)
class Setup:
    """What a run needs before it writes anything: the data, the plan, the models and whether XLA compiles."""

    cfg: Config
    opts: RunOptions
    strategy: tf.distribute.Strategy
    data: ImageData
    plan: Plan
    gan: GAN
    jit: bool
    data_record: dict | None = None  # what the data is (engine.run.data_record), written into a new run's config


def set_up(cfg: Config, opts: RunOptions, strategy: tf.distribute.Strategy) -> Setup:
    """Loads and checks the data, plans the steps and builds the GAN under `strategy` (created by
    engine.cluster.strategies.make_strategy before any other TensorFlow work). Writes nothing.

    Raises:
      UserError: the data is missing or does not fit the config, or the batch does not split over the replicas.
    """
    record = data_record.take(cfg.dataset, opts.data_dir)  # before loading: a file added meanwhile is refused later
    data = load_dataset(cfg.dataset, cfg.train_split, opts.data_dir, cfg.image_shape)
    check_compatible(data, cfg)
    plan = Plan.make(cfg, len(data.images), strategy.num_replicas_in_sync)
    jit = resolve_jit(opts, strategy)
    if opts.deterministic:
        tf.config.experimental.enable_op_determinism()  # process-wide: kernels pick deterministic algorithms
    # The seed fixes the initial weights too, so runs with one seed start alike under any strategy or worker count.
    keras.utils.set_random_seed(cfg.seed)
    with strategy.scope():
        gan = GAN(cfg)
    return Setup(cfg, opts, strategy, data, plan, gan, jit, record)


@dataclass(frozen=True)
class Stepper:
    """The traced training steps of one GAN over its data; `stepper(n)` runs up to `n` steps in one call."""

    train_fn: Callable
    iterator: Iterator

    def __call__(self, n) -> dict:
        """Up to `n` steps (an int or an int32 tensor; neither retraces): engine.step.traced.make_train_fn's dict."""
        return self.train_fn(self.iterator, tf.convert_to_tensor(n, tf.int32))


def make_stepper(
    gan: GAN,
    data: ImageData,
    strategy: tf.distribute.Strategy,
    *,
    jit_compile: bool,
    start_step: int = 0,
    max_consecutive_skips: int = 0,
) -> Stepper:
    """The GAN's traced step over `data` (batch size, output range and data order from `gan.cfg`), ready to call.

    Args:
      gan: built in `strategy.scope()`.
      start_step: the first batch is the one an uninterrupted run draws at this step (a resumed run's).
      max_consecutive_skips: > 0: a call stops early once this many steps in a row were skipped.
    Raises:
      ValueError: `jit_compile` under a strategy XLA cannot compile for
        (engine.cluster.strategies.jit_unsupported_reason).
    """
    reason = jit_unsupported_reason(strategy) if jit_compile else None
    if reason:
        raise ValueError(reason)
    cfg = gan.cfg
    dataset = make_dataset(
        data, global_batch_size=cfg.batch_size, output_range=cfg.output_range, seed=cfg.seed, start_step=start_step
    )
    iterator = iter(distribute(dataset, strategy))
    train_fn = make_train_fn(gan, strategy, jit_compile=jit_compile, max_consecutive_skips=max_consecutive_skips)
    return Stepper(train_fn, iterator)
