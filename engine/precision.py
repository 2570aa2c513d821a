"""Keras mixed-precision policies, applied only while a model is built.

Keras layers read the global dtype policy when they are created, so setting it around construction and
restoring it after gives mixed-precision networks while everything built later (exports, metrics, other
models in the process) stays float32. Variables are float32 under every policy; layers built with
dtype="float32" (each family's generator output and discriminator logits) compute in float32.
"""

import contextlib

import keras

from engine.config import PRECISIONS


@contextlib.contextmanager
def policy_scope(precision: str):
    """Builds layers under Keras policy `precision` ("float32", "mixed_float16", "mixed_bfloat16") inside the block."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (valid: {', '.join(PRECISIONS)})")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def needs_loss_scaling(precision: str) -> bool:
    """float16 has a narrow exponent range: small gradients underflow unless the loss is scaled. bfloat16 has
    float32's range and needs none."""
    return precision == "mixed_float16"
