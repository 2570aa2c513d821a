"""Parity between an exported generator and the float32 Keras generator it came from, on seeded random inputs: the
same file is accepted or refused the same way every time (a quantised variant near its budget once passed or failed
by the draw).

Each numeric variant has its own budget, declared with it (export.metadata.VARIANTS). float32 files must match Keras
to 1e-4 (rounding order only). The others are bounded in output steps: one step (LSB) is (hi - lo) / 255, one grey
level of the uint8 image an app shows, so a budget reads the same for a tanh [-1, 1] and a sigmoid [0, 1] generator.
The bounds hold the rounding each variant introduces with headroom, and are tight enough that a broken conversion
(wrong scale, a layer in the wrong mode) fails: a generator whose output is off by a constant 5% of its range fails
every one.
"""

import dataclasses

import numpy as np

from engine.errors import UserError
from export import metadata
from export.runtime import draw_latents

BATCHES = (1, 16)
MAX_ABS_ERROR = 1e-4


@dataclasses.dataclass(frozen=True)
class Budget:
    """Largest allowed max and mean abs error against Keras, in output units."""

    max_abs: float
    mean_abs: float | None = None

    def describe(self) -> str:
        mean = f", mean abs {self.mean_abs:.3g}" if self.mean_abs is not None else ""
        return f"max abs {self.max_abs:g}{mean}"


def budget_for(variant: str, output_range) -> Budget:
    """The parity budget of a numeric variant (export.metadata.VARIANTS: its lsb_budget) for this output range."""
    declared = metadata.VARIANTS.get(variant)
    if declared is None:
        raise ValueError(f"no parity budget for variant {variant!r} (valid: {', '.join(metadata.VARIANTS)})")
    if declared.lsb_budget is None:
        return Budget(MAX_ABS_ERROR)
    lo, hi = output_range
    step = (hi - lo) / 255
    max_steps, mean_steps = declared.lsb_budget
    return Budget(max_steps * step, mean_steps * step)


def random_inputs(meta: dict, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Inputs named as in the exported signature: `z` float32 (and `label` int32 for conditional generators)."""
    inputs = {"z": draw_latents(meta, rng, batch)}
    if meta["num_classes"]:
        inputs["label"] = rng.integers(0, meta["num_classes"], batch).astype(np.int32)
    return inputs


def keras_reference(generator, inputs: dict[str, np.ndarray]) -> np.ndarray:
    args = [inputs["z"], inputs["label"]] if "label" in inputs else inputs["z"]
    return np.asarray(generator(args, training=False))


def check_parity(
    generator,
    run_exported,
    meta: dict,
    *,
    what: str,
    budget: float | Budget = MAX_ABS_ERROR,
    batches=BATCHES,
    seed: int = 0,
) -> dict:
    """Compares `run_exported(inputs) -> image` (NHWC) with the Keras generator at each batch size.

    Args:
      budget: a Budget, or a float for a max-abs-only budget.
    Returns:
      {"batch_<n>": {"max_abs_error": float, "mean_abs_error": float}, ...}
    Raises:
      UserError: an output is not finite, has another shape, or is over budget.
    """
    budget = budget if isinstance(budget, Budget) else Budget(float(budget))
    rng = np.random.default_rng(seed)
    report = {}
    for batch in batches:
        inputs = random_inputs(meta, batch, rng)
        want = keras_reference(generator, inputs)
        got = np.asarray(run_exported(inputs))
        if got.shape != want.shape:
            raise UserError(f"{what}: output shape {got.shape} != Keras {want.shape} at batch {batch}")
        if not np.all(np.isfinite(got)):
            raise UserError(f"{what}: output has {int(np.sum(~np.isfinite(got)))} non-finite values at batch {batch}")
        err = np.abs(got.astype(np.float64) - want)
        report[f"batch_{batch}"] = {"max_abs_error": float(err.max()), "mean_abs_error": float(err.mean())}
        over_mean = budget.mean_abs is not None and err.mean() > budget.mean_abs
        if err.max() > budget.max_abs or over_mean:
            raise UserError(
                f"{what}: max abs error {err.max():.3g} (mean {err.mean():.3g}) at batch {batch} exceeds "
                f"the budget {budget.describe()}; the file was not written"
            )
    return report


CALIBRATION_BATCH = 16  # latents per batch of representative_inputs


def representative_inputs(meta: dict, count: int, seed: int = 0):
    """A callable yielding `count` calibration inputs (dicts keyed by input name) in batches, seeded: same file."""

    def generate():
        rng = np.random.default_rng(seed)
        for start in range(0, count, CALIBRATION_BATCH):
            yield random_inputs(meta, min(CALIBRATION_BATCH, count - start), rng)

    return generate
