"""Keras mixed-precision policies, applied only while a model is built, and `auto`: the policy this CPU runs fastest.

Keras layers read the global dtype policy when they are created, so setting it around construction and
restoring it after gives mixed-precision networks while everything built later (exports, metrics, other
models in the process) stays float32. Variables are float32 under every policy; layers built with
dtype="float32" (each family's generator output and discriminator logits) compute in float32.

Nothing here imports TensorFlow at module level: the CLI resolves `--precision auto` before TensorFlow starts.
"""

import argparse
import contextlib

from engine.config import PRECISIONS

AUTO = "auto"
# x86 CPU flags (Linux /proc/cpuinfo names) of instructions oneDNN runs bfloat16 convolutions and matmuls with:
# AVX512_BF16 (AMD Zen 4 and later; Intel Cooper Lake, Sapphire Rapids and later) and AMX-BF16 (Sapphire Rapids on).
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The feature flags of the first processor listed in /proc/cpuinfo text (its `flags` line; x86 only).

    Returns:
      The flags, or an empty set when the text has no `flags` line (ARM lists `Features`, other systems nothing).
    """
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def auto_precision(flags: frozenset[str]) -> str:
    """mixed_bfloat16 on a CPU with native bfloat16 arithmetic (one of NATIVE_BF16_FLAGS), else float32."""
    return "mixed_bfloat16" if flags & NATIVE_BF16_FLAGS else "float32"


def read_cpu_flags(path: str = "/proc/cpuinfo") -> frozenset[str]:
    """This machine's CPU flags; empty where `path` cannot be read (not Linux)."""
    try:
        with open(path) as f:
            return cpu_flags(f.read())
    except OSError:
        return frozenset()


def resolve_precision(name: str, flags: frozenset[str] | None = None) -> str:
    """A Keras policy name for `name`: `auto` becomes auto_precision(flags) (this machine's flags when None);
    the policy names pass through.

    Raises:
      ValueError: `name` is neither `auto` nor one of PRECISIONS.
    """
    if name == AUTO:
        return auto_precision(read_cpu_flags() if flags is None else flags)
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r} (valid: {', '.join((AUTO, *PRECISIONS))})")
    return name


def precision_arg(text: str) -> str:
    """argparse `type=` for --precision: the resolved policy name, so a run's config records what it ran."""
    try:
        return resolve_precision(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


@contextlib.contextmanager
def policy_scope(precision: str):
    """Builds layers under Keras policy `precision` ("float32", "mixed_float16", "mixed_bfloat16") inside the block."""
    import keras

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
