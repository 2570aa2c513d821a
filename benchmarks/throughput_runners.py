"""What one row of the training-throughput benchmark measures, and how (runs inside a child process).

Every row trains on the same batches (the engine's tf.data pipeline over real Fashion-MNIST; synthetic uint8
images for presets of another shape) and is timed the same way: one warm-up window (tracing, compilation, the
first batches), then `windows` timed windows of whole calls; images/s is the median window, compile s is the
warm-up window's extra time over the median one.
"""

import dataclasses
import math
import resource
import statistics
import time
from dataclasses import dataclass

from engine.config import Config

KINDS = ("pipeline", "tutorial", "fit", "engine")


@dataclass(frozen=True)
class Row:
    """One measured configuration. `steps_per_call`: steps per Python call (fit: steps_per_execution; engine:
    steps per device-side loop); the tutorial idiom is always 1."""

    preset: str
    batch: int
    kind: str
    jit: bool = False
    steps_per_call: int = 1
    strategy: str = "default"
    update_order: str = "simultaneous"  # engine rows only; baselines are alternating by construction
    precision: str = "float32"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r} (valid: {', '.join(KINDS)})")
        if self.kind == "tutorial" and (self.jit or self.steps_per_call != 1):
            raise ValueError("the tutorial idiom has no jit or steps_per_call")
        if (self.strategy, self.precision) != ("default", "float32") and self.kind != "engine":
            raise ValueError(f"strategy={self.strategy!r}, precision={self.precision!r}: only kind=engine has them")

    @property
    def algorithm(self) -> str:
        """The update order actually run: baselines alternate D and G steps."""
        return self.update_order if self.kind == "engine" else "alternating"

    @property
    def label(self) -> str:
        if self.kind == "pipeline":
            return "input pipeline alone"
        if self.kind == "tutorial":
            return "tutorial idiom (train_on_batch)"
        name = "Keras fit (train_step)" if self.kind == "fit" else "engine"
        if self.kind == "engine" and self.strategy != "default":
            name += f" {self.strategy}"
        if self.kind == "engine" and self.update_order != "simultaneous":
            name += f" {self.update_order}"
        if self.precision != "float32":
            name += f" {self.precision}"
        return name


def window_steps(batch: int, steps_per_call: int, window_images: int) -> int:
    """Steps per timed window: whole calls, at least `window_images` images."""
    calls = max(1, math.ceil(window_images / (batch * steps_per_call)))
    return calls * steps_per_call


def summarise(first_s: float, window_s: list[float], images_per_window: int) -> dict:
    """images/s from the median window; compile s = the warm-up window's extra time over the median window."""
    median = statistics.median(window_s)
    return {
        "images_per_s": images_per_window / median,
        "compile_s": max(0.0, first_s - median),
        "window_images_per_s": [images_per_window / s for s in window_s],
    }


def reset_peak_rss() -> None:
    """Resets the kernel's peak-RSS mark for this process (Linux), so each row reports its own peak."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _status_mb(field: str) -> float | None:
    try:
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """Peak resident memory of this process since the last `reset_peak_rss` (the row's peak)."""
    return _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Resident memory now: what earlier rows of the same process left behind counts in a row's peak."""
    return _status_mb("VmRSS") or 0.0


def load_images(preset: str):
    """(config, ImageData): real Fashion-MNIST when the preset's images are 28x28x1, else seeded synthetic images.
    `preset` may name a size for an any-size family: "folder@64" is the folder preset at 64x64x3."""
    import numpy as np

    from engine.data import ImageData
    from engine.data.registry import load_dataset
    from engine.presets import get_preset

    name, _, size = preset.partition("@")
    cfg = get_preset(name)
    if size:
        cfg = dataclasses.replace(cfg, image_shape=(int(size), int(size), 3))
    if tuple(cfg.image_shape) == (28, 28, 1):
        return cfg, load_dataset("fashion_mnist", "train")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4096, *cfg.image_shape), dtype=np.uint8)
    return cfg, ImageData(images, np.zeros(len(images), np.int32), ("none",), "synthetic")


class Timer:
    """Runs `run_steps(n)` for a warm-up window and timed windows; `run_steps` must block until the work is done."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock

    def time(self, run_steps, steps: int, windows: int) -> tuple[float, list[float]]:
        start = self.clock()
        run_steps(steps)
        first = self.clock() - start
        times = []
        for _ in range(windows):
            start = self.clock()
            run_steps(steps)
            times.append(self.clock() - start)
        return first, times


def measure(row: Row, *, windows: int, window_images: int, strategy=None) -> dict:
    """Builds what `row` describes, times it and returns its result dict (images/s, compile s, FLOPs, peak RSS)."""
    import tensorflow as tf

    from benchmarks.flops import forward_flops, step_flops
    from engine.config import with_update_order
    from engine.step.gan import GAN

    reset_peak_rss()
    rss_start = current_rss_mb()
    base, data = load_images(row.preset)
    cfg = dataclasses.replace(with_update_order(base, row.update_order), batch_size=row.batch, precision=row.precision)
    strategy = strategy or tf.distribute.get_strategy()
    steps = window_steps(row.batch, row.steps_per_call, window_images)
    flops = None
    if row.kind == "pipeline":
        iterator = iter(_batches(cfg, data))
        first, times = Timer().time(lambda n: [next(iterator)["image"].numpy() for _ in range(n)], steps, windows)
    else:
        with strategy.scope():
            gan = GAN(cfg)  # the engine's networks, also reused by the baselines so every row trains the same models
        flops = step_flops(gan.generator, gan.discriminator, row.algorithm)
        run_steps = _runner(row, cfg, gan, data, strategy)
        if row.kind == "fit":
            first, times = run_steps(steps, windows)
        else:
            first, times = Timer().time(run_steps, steps, windows)
    result = {
        **dataclasses.asdict(row),
        "label": row.label,
        "algorithm": row.algorithm,
        "window_steps": steps,
        **summarise(first, times, steps * row.batch),
        "peak_rss_mb": peak_rss_mb(),
        "rss_start_mb": rss_start,
    }
    if flops is not None:
        result.update(
            step_mflop_per_image=flops / 1e6,
            g_mflop=forward_flops(gan.generator) / 1e6,
            d_mflop=forward_flops(gan.discriminator) / 1e6,
        )
    return result


def _batches(cfg: Config, data):
    """The batches the engine's stepper draws (engine.data.pipeline), for the rows that are not the engine."""
    from engine.data.pipeline import make_dataset

    return make_dataset(data, global_batch_size=cfg.batch_size, output_range=cfg.output_range, seed=cfg.seed)


def _runner(row: Row, cfg: Config, gan, data, strategy):
    import tensorflow as tf

    if row.kind == "tutorial":
        from benchmarks.baselines import TutorialIdiom

        idiom = TutorialIdiom(gan.generator, gan.discriminator, cfg)
        iterator = iter(_batches(cfg, data).map(lambda b: b["image"]))

        def run(n):
            for _ in range(n):
                idiom.step(next(iterator).numpy())  # train_on_batch returns Python floats: each step is synced

        return run

    if row.kind == "fit":
        from benchmarks.baselines import make_fit_gan

        model = make_fit_gan(
            gan.generator, gan.discriminator, cfg, jit_compile=row.jit, steps_per_execution=row.steps_per_call
        )
        images = _batches(cfg, data).map(lambda b: b["image"])

        def run_fit(steps, windows):
            # One fit call, one epoch per window; with steps_per_epoch set Keras keeps the iterator across epochs.
            timer = _EpochTimer()
            model.fit(images, epochs=windows + 1, steps_per_epoch=steps, verbose=0, callbacks=[timer], shuffle=False)
            return timer.times[0], timer.times[1:]

        return run_fit

    from engine.run.stepper import make_stepper

    stepper = make_stepper(gan, data, strategy, jit_compile=row.jit)  # ValueError: XLA cannot run under `strategy`
    n = tf.constant(row.steps_per_call)

    def run_engine(steps):
        for _ in range(steps // row.steps_per_call):
            out = stepper(n)
        out["d_loss"].numpy()  # calls are queued asynchronously; this waits for the last

    return run_engine


def _EpochTimer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            float(logs["d_loss"])  # reading a loss waits for the epoch's last step
            self.times.append(time.perf_counter() - self.start)

    return EpochTimer()
