"""Parity between an exported generator and the Keras generator it came from, on fresh random inputs."""

import numpy as np

from engine.errors import UserError

BATCHES = (1, 16)
MAX_ABS_ERROR = 1e-4


def random_inputs(meta: dict, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Inputs named as in the exported signature: `z` float32 (and `label` int32 for conditional generators)."""
    shape = (batch, meta["latent_dim"])
    if meta["latent_distribution"] == "uniform":
        lo, hi = meta["latent_range"]
        z = rng.uniform(lo, hi, shape)
    else:
        z = rng.standard_normal(shape)
    inputs = {"z": z.astype(np.float32)}
    if meta["num_classes"]:
        inputs["label"] = rng.integers(0, meta["num_classes"], batch).astype(np.int32)
    return inputs


def keras_reference(generator, inputs: dict[str, np.ndarray]) -> np.ndarray:
    args = [inputs["z"], inputs["label"]] if "label" in inputs else inputs["z"]
    return np.asarray(generator(args, training=False))


def check_parity(generator, run_exported, meta: dict, *, what: str, budget: float = MAX_ABS_ERROR,
                 batches=BATCHES, seed: int | None = None) -> dict:
    """Compares `run_exported(inputs) -> image` with the Keras generator at each batch size.

    Returns:
      {"batch_<n>": {"max_abs_error": float, "mean_abs_error": float}, ...}
    Raises:
      UserError: an output is not finite, has another shape, or differs by more than `budget`.
    """
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
        if err.max() > budget:
            raise UserError(f"{what}: max abs error {err.max():.3g} (mean {err.mean():.3g}) at batch {batch} exceeds "
                            f"the budget {budget:g}; the file was not written")
    return report
