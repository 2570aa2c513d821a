"""Experiment configs as frozen dataclasses, presets registered by name, and type-checked `key=value` overrides."""

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass

from engine.errors import UserError

OUTPUT_RANGES = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}
LATENT_DISTRIBUTIONS = ("normal", "uniform")
UPDATE_ORDERS = ("simultaneous", "alternating")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")  # Keras dtype policies
STRATEGIES = ("default", "one_device", "mirrored", "multi_worker")
AUGMENTATIONS = ("translation", "cutout", "color")  # engine.step.augment's transforms, in the order they apply
TRAIN_SPLITS = ("train", "all")  # "all": every image of a source with no official split (a folder, the A-Z csv)
FEATURE_WEIGHTS = ("pretrained", "random")  # "random": the frozen network as built, for tests that need no download
MAX_LATENT_DIM = 65_536  # a latent batch of 64 x 65,536 floats is 16 MiB; 10^8 would need GBs before step 1
MAX_SAMPLE_COUNT = 4_096  # images in one sample grid (64 x 64 tiles)
MAX_PIXELS = 256 * 256  # image_shape bound: the families are small DCGANs; 4096x4096 would exhaust memory first
MAX_CPU_REPLICAS_PER_CORE = 4  # logical CPU replicas beyond this many per core only oversubscribe (and can crash)


# Settings of the alternating order (D's update, then G's) with no meaning in the simultaneous one, and their "off".
ALTERNATING_ONLY = {
    "d_split_real_fake": False,
    "d_fakes_inference": False,
    "d_frozen_bn_in_g_step": False,
    "g_reuses_noise": False,
    "g_batch_factor": 1,
}


@dataclass(frozen=True, kw_only=True)
class Config:
    """Everything that defines an experiment (what is trained, on what, how). Saved as JSON in the run directory.

    How it is run (strategy, XLA, steps per loop) is `RunOptions`, kept apart so a run can resume elsewhere.
    """

    preset: str = "custom"  # the preset's name, written by engine.presets.get_preset
    model: str  # key in engine.models.MODELS
    dataset: str = "fashion_mnist"  # key in engine.data.registry.DATASETS
    image_shape: tuple[int, int, int] = (28, 28, 1)
    num_classes: int = 0  # > 0: the generator takes (z, label)
    latent_dim: int = 100
    latent_distribution: str = "normal"  # "normal": N(0, 1); "uniform": U[0, 1)
    output_activation: str = "tanh"  # sets the image range: tanh -> [-1, 1], sigmoid -> [0, 1]
    loss: str = "bce"  # key in engine.step.losses.LOSSES: bce (non-saturating), hinge, lsgan, wgan_gp
    update_order: str = "simultaneous"  # one forward pass, two tapes (TF DCGAN tutorial); or D-then-G steps
    real_label: float = 1.0  # D's target for real images (label smoothing: e.g. 0.9); bce and lsgan only
    fake_label: float = 0.0  # D's target for generated images
    n_critic: int = 1  # D updates per G update (alternating order only)
    d_split_real_fake: bool = False  # alternating: D takes two updates per step, on the real batch, then on the fakes
    d_fakes_inference: bool = False  # alternating: D's fakes come from G in inference mode (Keras `predict`/`G(z)`)
    # alternating: G's update runs D's BatchNorm on its moving statistics and leaves them unchanged, Dropout still
    # dropping: tf.keras 2's `discriminator.trainable = False` inside the stacked G->D model
    d_frozen_bn_in_g_step: bool = False
    g_reuses_noise: bool = False  # alternating: G's update reuses the D step's latents (and labels), not fresh ones
    g_batch_factor: int = 1  # G's update draws this many latents per real image (Brownlee: 2, G on 256 for 128 real)
    dropout: float | None = None  # the dropout rate of the family's Dropout layers; None: the family's own rate
    gp_weight: float = 10.0  # gradient-penalty weight for loss=wgan_gp
    class_weight: float = 1.0  # weight of G's class loss (families whose D has a class head: acgan, input_aux)
    spectral_norm: bool = False  # wrap D's Conv2D/Dense layers in keras.layers.SpectralNormalization
    ema_decay: float = 0.0  # > 0: keep an EMA of G's weights; it is what gets sampled and exported
    ema_warmup: bool = (
        False  # decay min(ema_decay, (1 + t) / (10 + t)) at step t: a short run does not average its start
    )
    l2: float = 0.0  # L2 weight penalty on each network's weights
    balance_g: float = 0.0  # > 0: skip G's update when g_loss * balance_g < d_loss (losses before the step's updates)
    balance_d: float = 0.0  # > 0: skip D's update when d_loss * balance_d < g_loss
    optimizer: str = "adam"
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 128  # global batch, split across replicas
    epochs: int = 3
    steps: int = 0  # > 0 overrides epochs
    steps_per_epoch: int = 0  # > 0: what one epoch is (Brownlee: int(60000 / 256)); 0: the data / batch_size
    seed: int = 0
    checkpoint_every: int = 500  # steps; a checkpoint is also written at each epoch end and at the end
    keep_checkpoints: int = 3
    log_every: int = 50  # steps between metrics-log / TensorBoard records
    sample_count: int = 64  # images in each epoch's sample grid (one fixed latent batch)
    precision: str = "float32"  # Keras policy for G and D compute; variables, outputs and exports stay float32
    # Small data (engine.step.augment, engine.step.phases.r1_gradients): what D sees, and how hard it may memorise.
    augment: str = ""  # DiffAugment transforms of every image D sees, e.g. "translation,cutout,color"; "" = off
    augment_p: float = 1.0  # each transform's probability per image (the start value when ada_target > 0)
    ada_target: float = 0.0  # > 0: ADA: raise augment_p while D's mean sign on real images is above this, else lower
    ada_kimg: float = 100.0  # ADA's speed: thousands of images for augment_p to cross 0..1
    r1_weight: float = 0.0  # > 0: R1 penalty gamma / 2 * E||grad_x D(x)||^2 on real images (Mescheder et al. 2018)
    r1_every: int = 16  # lazy R1: a separate D update on the penalty every this many steps, scaled by it
    # > 0: LeCam (Tseng et al. 2021): D's outputs on each side pulled toward the moving average of the other side's
    lecam_weight: float = 0.0
    lecam_decay: float = 0.99  # the decay of those moving averages of D's mean output on real and generated images
    width: float = 1.0  # channel multiplier of the families that take one (dcgan_any)
    d_width: float = 0.0  # > 0: D's own channel multiplier in those families; 0: D takes `width` too
    g_min_channels: int = 0  # > 0: G's up-blocks (dcgan_any) get at least this many channels, more detail at full size
    # dcgan_any's G: FastGAN's skip-layer excitation (Liu et al. 2021), the 4x4 and 8x8 features gating the channels
    # of the blocks two doublings up
    g_skip_excitation: bool = False
    # D on a step's real and generated images in one call (a batch of both): exact for a D without batch statistics
    d_one_pass: bool = False
    feature_size: int = 64  # feature discriminators (projected_any): images are resized to this for the frozen network
    feature_weights: str = "pretrained"  # the frozen network's weights: "pretrained" (ImageNet), "random" (tests)
    train_split: str = "train"  # the data split trained on: "train", or "all" for sources without an official split

    def __post_init__(self):
        problems = []
        if self.output_activation not in OUTPUT_RANGES:
            problems.append(f"output_activation={self.output_activation!r} (valid: {', '.join(OUTPUT_RANGES)})")
        if self.latent_distribution not in LATENT_DISTRIBUTIONS:
            problems.append(
                f"latent_distribution={self.latent_distribution!r} (valid: {', '.join(LATENT_DISTRIBUTIONS)})"
            )
        if self.update_order not in UPDATE_ORDERS:
            problems.append(f"update_order={self.update_order!r} (valid: {', '.join(UPDATE_ORDERS)})")
        if self.precision not in PRECISIONS:
            problems.append(f"precision={self.precision!r} (valid: {', '.join(PRECISIONS)})")
        for name in ("batch_size", "latent_dim", "keep_checkpoints", "checkpoint_every", "log_every", "sample_count"):
            if getattr(self, name) <= 0:
                problems.append(f"{name}={getattr(self, name)} (must be > 0)")
        for name in ("epochs", "steps", "steps_per_epoch", "num_classes"):
            if getattr(self, name) < 0:
                problems.append(f"{name}={getattr(self, name)} (must be >= 0)")
        if self.n_critic < 1:
            problems.append(f"n_critic={self.n_critic} (must be >= 1)")
        if self.n_critic > 1 and self.update_order != "alternating":
            problems.append("n_critic > 1 needs update_order=alternating")
        if (self.balance_g or self.balance_d) and self.n_critic > 1:
            problems.append("balance_g/balance_d need n_critic=1 (one decision per step, on both losses)")
        alternating_only = [k for k in ALTERNATING_ONLY if k != "g_batch_factor"]
        if self.update_order != "alternating" and any(getattr(self, k) for k in alternating_only):
            problems.append(f"{'/'.join(alternating_only)} need update_order=alternating")
        if self.update_order != "alternating" and self.g_batch_factor != 1:
            problems.append("g_batch_factor != 1 needs update_order=alternating")
        if self.g_batch_factor < 1 or (self.g_batch_factor > 1 and self.g_reuses_noise):
            problems.append(f"g_batch_factor={self.g_batch_factor} (must be >= 1, and 1 when g_reuses_noise)")
        if self.d_split_real_fake and self.n_critic > 1:
            problems.append("d_split_real_fake needs n_critic=1")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout={self.dropout} (must be in [0, 1))")
        if not 0.0 <= self.ema_decay < 1.0:
            problems.append(f"ema_decay={self.ema_decay} (must be in [0, 1))")
        if self.epochs == 0 and self.steps == 0:
            problems.append("epochs=0 and steps=0 (set one of them)")
        for name in ("g_lr", "d_lr"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                problems.append(f"{name}={getattr(self, name)} (must be a finite number > 0)")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                problems.append(f"{name}={getattr(self, name)} (must be in [0, 1))")
        if not 0 <= self.seed < 2**32:
            problems.append(f"seed={self.seed} (must be in [0, 2**32))")
        if len(self.image_shape) != 3 or any(d <= 0 for d in self.image_shape) or self.image_shape[2] not in (1, 3, 4):
            problems.append(f"image_shape={self.image_shape} (must be HxWxC with H, W > 0 and C 1, 3 or 4)")
        elif self.image_shape[0] * self.image_shape[1] > MAX_PIXELS:
            problems.append(
                f"image_shape={self.image_shape} ({self.image_shape[0] * self.image_shape[1]:,} pixels; "
                f"the model families are built for small images, at most {MAX_PIXELS:,} pixels)"
            )
        for name in ("real_label", "fake_label"):
            if not math.isfinite(getattr(self, name)):
                problems.append(f"{name}={getattr(self, name)} (must be finite)")
        for name in ("gp_weight", "class_weight", "l2", "balance_g", "balance_d"):  # weights: a negative one inverts
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                problems.append(f"{name}={getattr(self, name)} (must be a finite number >= 0)")
        if self.latent_dim > MAX_LATENT_DIM:
            problems.append(f"latent_dim={self.latent_dim:,} (at most {MAX_LATENT_DIM:,})")
        if self.sample_count > MAX_SAMPLE_COUNT:
            problems.append(f"sample_count={self.sample_count:,} (at most {MAX_SAMPLE_COUNT:,}: one sample grid)")
        problems += self._small_data_problems()
        if problems:
            raise UserError("invalid config: " + "; ".join(problems))

    def _small_data_problems(self) -> list[str]:
        problems = []
        unknown = [n for n in augment_policy(self.augment) if n not in AUGMENTATIONS]
        if unknown:
            problems.append(
                f"augment={self.augment!r}: unknown {', '.join(unknown)} (valid: {', '.join(AUGMENTATIONS)})"
            )
        for name in ("augment_p", "ada_target"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name}={getattr(self, name)} (must be in [0, 1])")
        if self.ada_target and not self.augment:
            problems.append("ada_target > 0 needs augment (e.g. augment=translation,cutout,color)")
        for name in ("ada_kimg", "width"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                problems.append(f"{name}={getattr(self, name)} (must be a finite number > 0)")
        if not (math.isfinite(self.d_width) and self.d_width >= 0):
            problems.append(f"d_width={self.d_width} (must be a finite number >= 0; 0: D takes width)")
        if not (math.isfinite(self.r1_weight) and self.r1_weight >= 0):
            problems.append(f"r1_weight={self.r1_weight} (must be a finite number >= 0)")
        if not 0 <= self.g_min_channels <= 1024:
            problems.append(f"g_min_channels={self.g_min_channels} (must be in [0, 1024])")
        if not (math.isfinite(self.lecam_weight) and self.lecam_weight >= 0):
            problems.append(f"lecam_weight={self.lecam_weight} (must be a finite number >= 0)")
        if not 0.0 <= self.lecam_decay < 1.0:
            problems.append(f"lecam_decay={self.lecam_decay} (must be in [0, 1))")
        if self.r1_every < 1:
            problems.append(f"r1_every={self.r1_every} (must be >= 1)")
        if self.feature_weights not in FEATURE_WEIGHTS:
            problems.append(f"feature_weights={self.feature_weights!r} (valid: {', '.join(FEATURE_WEIGHTS)})")
        if not 64 <= self.feature_size <= 256 or self.feature_size % 16:
            problems.append(f"feature_size={self.feature_size} (must be a multiple of 16 in [64, 256])")
        if self.train_split not in TRAIN_SPLITS:
            problems.append(f"train_split={self.train_split!r} (valid: {', '.join(TRAIN_SPLITS)})")
        return problems

    @property
    def output_range(self) -> tuple[float, float]:
        return OUTPUT_RANGES[self.output_activation]


@dataclass(frozen=True)
class RunOptions:
    """How a run executes; does not change what is learned (up to floating-point order)."""

    strategy: str = "default"  # default | one_device | mirrored | multi_worker
    cpu_replicas: int | str = 2  # logical CPU devices for `mirrored` without GPUs; "auto": engine.train picks
    # XLA for the per-replica step: True, False, or "auto": on where a GPU is present, off on a CPU (where it measured
    # slower, docs/benchmarks.md); falls back where it cannot run
    jit_compile: bool | str = "auto"
    steps_per_loop: int = 10  # steps per Python call: >1 runs a device-side while loop inside one tf.function
    data_dir: str | None = None
    eval_every: int = 0  # epochs between quality evaluations (FID/KID/score, best checkpoint); 0 = off
    eval_samples: int = 2000  # generated images per evaluation: seconds on a CPU; FID depends on N, compare at equal N
    eval_at_minutes: tuple[float, ...] = ()  # also evaluate when training time (evaluations excluded) passes each mark
    time_limit_min: float = 0.0  # > 0: stop (checkpoint, grid, generator, final evaluation) after this much training
    deterministic: bool = False  # op determinism + seeded init: a rerun, or a killed and resumed run, ends bit-equal
    checkpoint_every_seconds: float = 600.0  # also checkpoint when this long has passed since the last save; 0 = off
    max_consecutive_skips: int = 10  # stop after this many steps in a row skipped for a non-finite loss or gradient

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise UserError(f"unknown strategy {self.strategy!r}; valid: {', '.join(STRATEGIES)}")
        most = MAX_CPU_REPLICAS_PER_CORE * (os.cpu_count() or 1)
        if self.cpu_replicas != "auto" and not 1 <= self.cpu_replicas <= most:
            raise UserError(
                f"invalid options: cpu_replicas={self.cpu_replicas} (must be 1 to {most}: at most "
                f"{MAX_CPU_REPLICAS_PER_CORE} per CPU core)"
            )
        if self.jit_compile not in (True, False, "auto"):
            raise UserError(f"invalid options: jit_compile={self.jit_compile!r} (true, false or auto)")
        if self.steps_per_loop < 1:
            raise UserError(f"invalid options: steps_per_loop={self.steps_per_loop} (must be >= 1)")
        if not self.checkpoint_every_seconds >= 0 or math.isinf(self.checkpoint_every_seconds):
            raise UserError(
                f"invalid options: checkpoint_every_seconds={self.checkpoint_every_seconds} "
                "(must be a finite number >= 0)"
            )
        if self.max_consecutive_skips < 1:
            raise UserError(f"invalid options: max_consecutive_skips={self.max_consecutive_skips} (must be >= 1)")
        if (self.time_limit_min or self.eval_at_minutes) and self.strategy == "multi_worker":
            raise UserError(
                "--time-limit/--eval-at-minutes cannot be used with multi_worker (the workers' clocks "
                "would disagree on the step to stop or evaluate at); use --steps/--epochs, --eval-every"
            )
        if not (self.time_limit_min >= 0 and math.isfinite(self.time_limit_min)):
            raise UserError(f"invalid options: time_limit_min={self.time_limit_min} (must be >= 0; 0 = no limit)")
        if any(m <= 0 for m in self.eval_at_minutes):
            raise UserError(f"invalid options: eval_at_minutes={self.eval_at_minutes} (each must be > 0)")
        if self.eval_every < 0:
            raise UserError(f"invalid options: eval_every={self.eval_every} (must be >= 0; 0 = off)")
        if self.eval_samples < 2:
            raise UserError(f"invalid options: eval_samples={self.eval_samples} (must be >= 2)")


def augment_policy(text: str) -> tuple[str, ...]:
    """'translation,cutout,color' -> ('translation', 'cutout', 'color'); '' -> () (augmentation off)."""
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _parse_value(key: str, text: str, typ):
    """Parses `text` as `typ` (a field type annotation); raises UserError naming the key on a mismatch."""
    origin = typing.get_origin(typ)
    if origin is typing.Union or origin is getattr(__import__("types"), "UnionType", None):
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if text.lower() in ("none", "null", ""):
            return None
        return _parse_value(key, text, args[0])
    if origin is tuple:
        parts = [p for p in text.replace("x", ",").split(",") if p]
        item = typing.get_args(typ)[0]
        return tuple(_parse_value(key, p, item) for p in parts)
    if typ is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise UserError(f"override {key}={text!r}: expected true or false")
    try:
        return typ(text)
    except ValueError:
        raise UserError(f"override {key}={text!r}: expected {typ.__name__}") from None


def with_update_order(cfg: Config, order: str) -> Config:
    """`cfg` in update order `order`; a move to the simultaneous order turns the alternating-only settings off."""
    return dataclasses.replace(cfg, update_order=order, **({} if order == "alternating" else ALTERNATING_ONLY))


def apply_overrides(cfg: Config, pairs: list[str]) -> Config:
    """Returns `cfg` with `key=value` overrides applied, each parsed to the field's type.

    Raises:
      UserError: malformed pair, unknown key (the message lists the valid keys), or a value of the wrong type.
    """
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    hints = typing.get_type_hints(type(cfg))
    changes = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"override {pair!r} is not key=value (e.g. --set batch_size=64)")
        key, text = pair.split("=", 1)
        key = key.strip()
        if key not in fields or key == "preset":
            valid = ", ".join(k for k in fields if k != "preset")
            raise UserError(f"unknown config key {key!r}; valid keys: {valid}")
        changes[key] = _parse_value(key, text.strip(), hints[key])
    return dataclasses.replace(cfg, **changes)


LENGTH_FIELDS = ("epochs", "steps")  # how long a run trains: the only fields a resumed run may change


def changed_except_length(a: Config, b: Config) -> list[str]:
    """The names of the fields (other than the length) in which `a` and `b` differ, in field order."""
    return [
        f.name
        for f in dataclasses.fields(Config)
        if f.name not in LENGTH_FIELDS and getattr(a, f.name) != getattr(b, f.name)
    ]


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(cls, data: dict):
    """Rebuilds a Config/RunOptions from its JSON dict (lists back to tuples); unknown keys raise UserError."""
    hints = typing.get_type_hints(cls)
    if not isinstance(data, dict):
        raise UserError(f"{cls.__name__} in run directory is a {type(data).__name__}, not an object")
    unknown = set(data) - set(hints)
    if unknown:
        raise UserError(
            f"{cls.__name__} in run directory has unknown keys {sorted(unknown)}: written by another version?"
        )
    wrong = [f"{k}={v!r} (expected {_type_name(hints[k])})" for k, v in data.items() if not _matches(v, hints[k])]
    if wrong:
        raise UserError(f"{cls.__name__} in run directory has values of the wrong type: {', '.join(wrong)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def _matches(value, hint) -> bool:
    """Whether a JSON value fits a Config field's type (an int for an int field, not 28.0 or true)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if hint is type(None):
        return value is None
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, (list, tuple)):
            return False
        kinds = [args[0]] * len(value) if Ellipsis in args else list(args)
        return len(kinds) == len(value) and all(_matches(v, k) for v, k in zip(value, kinds, strict=False))
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _type_name(hint) -> str:
    return getattr(hint, "__name__", None) if not typing.get_args(hint) else str(hint).replace("typing.", "")
