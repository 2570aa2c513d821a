"""Mixed precision: float16/bfloat16 compute with float32 variables and outputs, loss scaling for float16, the
policy confined to model construction, float32 exports of a mixed run, and `auto`'s choice from the CPU's flags."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from engine import models
from engine.config import RunOptions
from engine.errors import UserError
from engine.run import reading as runread
from engine.run.loop import train
from engine.step import precision as precision_module
from engine.step.gan import GAN
from engine.step.precision import auto_precision, cpu_flags, policy_scope, read_cpu_flags, resolve_precision

COMPUTE = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}


def compute_dtypes(model) -> set[str]:
    return {layer.dtype_policy.compute_dtype for layer in model.layers if layer.weights}


@pytest.mark.parametrize("precision", sorted(COMPUTE))
def test_mixed_gan_computes_in_half_precision_with_float32_variables_and_outputs(tiny_config, precision):
    gan = GAN(tiny_config(precision=precision))
    assert keras.config.dtype_policy().name == "float32"  # the policy did not leak out of construction
    for net in (gan.generator, gan.discriminator):
        # (int64 variables are Dropout's seed state)
        assert {v.dtype for v in net.variables if "float" in v.dtype} == {"float32"}
        assert COMPUTE[precision] in compute_dtypes(net)
    assert gan.generator.get_layer("image").dtype_policy.compute_dtype == "float32"
    assert gan.discriminator.get_layer("logit").dtype_policy.compute_dtype == "float32"
    image = gan.generator(tf.random.normal([2, 100]), training=False)
    assert image.dtype == tf.float32 and gan.discriminator(image).dtype == tf.float32
    scaled = isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (precision == "mixed_float16")  # bfloat16 has float32's exponent range: no scaling


def test_float32_gan_has_float32_compute_and_plain_optimizers(tiny_config):
    gan = GAN(tiny_config())
    assert compute_dtypes(gan.generator) == {"float32"}
    assert not isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)


def test_policy_scope_restores_the_previous_policy_after_an_error():
    with pytest.raises(RuntimeError):
        with policy_scope("mixed_bfloat16"):
            assert keras.config.dtype_policy().name == "mixed_bfloat16"
            raise RuntimeError("boom")
    assert keras.config.dtype_policy().name == "float32"


def test_unknown_precision_is_a_config_error(tiny_config):
    with pytest.raises(UserError, match="precision='float8'"):
        tiny_config(precision="float8")


@pytest.fixture(scope="module", params=sorted(COMPUTE))
def mixed_run(tiny_config, request, tmp_path_factory, data_dir):
    run_dir = tmp_path_factory.mktemp(request.param)
    # Batch 2, 2 steps: TensorFlow has no fast float16 convolutions on CPU (a float16 step is ~100x float32 here).
    cfg = tiny_config(precision=request.param, batch_size=2, steps=2, sample_count=4)
    train(cfg, RunOptions(data_dir=str(data_dir), steps_per_loop=1), run_dir, tf.distribute.get_strategy())
    return request.param, run_dir


def test_mixed_run_trains_with_finite_losses_and_changes_weights(tiny_config, mixed_run):
    precision, run_dir = mixed_run
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    assert all(np.isfinite(r[k]) for r in records for k in ("d_loss", "g_loss"))
    generator, _, _ = runread.load_generator(run_dir)
    fresh = models.build_generator(tiny_config())
    assert any(not np.array_equal(a, b) for a, b in zip(generator.get_weights(), fresh.get_weights(), strict=False))


def test_mixed_run_exports_float32_matching_its_keras_models(tiny_config, mixed_run, tmp_path):
    from export.savedmodel import write_savedmodel

    precision, run_dir = mixed_run
    generator, meta, prefix = runread.load_generator(run_dir)
    assert compute_dtypes(generator) == {"float32"}  # exports are float32 whatever the run's precision
    # write_savedmodel reloads the file and refuses it unless it matches this Keras generator to 1e-4.
    path = write_savedmodel(generator, meta, tmp_path / "saved_model")
    z = np.random.default_rng(0).normal(size=(8, 100)).astype(np.float32)
    exported = tf.saved_model.load(str(path)).signatures["serving_default"](z=tf.constant(z))["image"].numpy()
    # The run's own (mixed) generator, restored from the same checkpoint, agrees up to half-precision rounding.
    with policy_scope(precision):
        mixed = models.build_generator(tiny_config(precision=precision))
    tf.train.Checkpoint(generator=mixed).restore(prefix).expect_partial()
    assert np.abs(mixed(z, training=False).numpy() - exported).max() < 5e-2
    assert np.abs(generator(z, training=False).numpy() - exported).max() < 1e-4


def test_precision_flag_reaches_the_config():
    from engine.train import build_config, parse_args

    assert build_config(parse_args(["--precision", "mixed_bfloat16"])).precision == "mixed_bfloat16"
    assert build_config(parse_args([])).precision == "float32"
    with pytest.raises(SystemExit):
        parse_args(["--precision", "float8"])


# Abridged /proc/cpuinfo of the two kinds of machine this project is lent, and an ARM one.
EPYC_ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14
flags\t\t: fpu vme sse sse2 avx avx2 fma avx512f avx512dq avx512bw avx512vl avx512_bf16 avx512_vnni
bogomips\t: 5200.00

processor\t: 1
flags\t\t: fpu vme sse sse2 avx avx2 fma avx512f avx512dq avx512bw avx512vl avx512_bf16 avx512_vnni
"""
XEON_SKYLAKE = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8175M CPU @ 2.50GHz
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512dq avx512bw avx512vl avx512_vnni
"""
XEON_SAPPHIRE_RAPIDS = """processor\t: 0
flags\t\t: fpu avx2 avx512f avx512bw avx512vl avx512_fp16 amx_bf16 amx_tile amx_int8
"""
GRAVITON = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics bf16 i8mm
"""


@pytest.mark.parametrize(
    "cpuinfo, expected",
    [
        (EPYC_ZEN4, "mixed_bfloat16"),  # AVX512_BF16
        (XEON_SAPPHIRE_RAPIDS, "mixed_bfloat16"),  # AMX-BF16
        (XEON_SKYLAKE, "float32"),  # AVX-512 without bf16: oneDNN would emulate it
        (GRAVITON, "float32"),  # ARM lists Features, not flags: not measured, so float32
        ("", "float32"),
    ],
)
def test_auto_picks_bfloat16_only_where_the_cpu_has_native_bfloat16(cpuinfo, expected):
    assert auto_precision(cpu_flags(cpuinfo)) == expected


def test_cpu_flags_reads_the_flags_line_only():
    flags = cpu_flags(EPYC_ZEN4)
    assert {"avx512_bf16", "avx512f", "fpu"} <= flags and "AuthenticAMD" not in flags and "5200.00" not in flags
    assert cpu_flags(GRAVITON) == frozenset()


def test_read_cpu_flags_of_a_missing_file_is_empty(tmp_path):
    assert read_cpu_flags(str(tmp_path / "missing")) == frozenset()
    path = tmp_path / "cpuinfo"
    path.write_text(XEON_SAPPHIRE_RAPIDS)
    assert "amx_bf16" in read_cpu_flags(str(path))


def test_resolve_precision_passes_policies_through_and_refuses_unknown_names():
    assert resolve_precision("auto", frozenset({"amx_bf16"})) == "mixed_bfloat16"
    assert resolve_precision("auto", frozenset({"avx512f"})) == "float32"
    for name in ("float32", "mixed_float16", "mixed_bfloat16"):
        assert resolve_precision(name, frozenset({"avx512_bf16"})) == name  # only auto looks at the CPU
    with pytest.raises(ValueError, match="auto, float32"):
        resolve_precision("bfloat16")


@pytest.mark.parametrize("flags, expected", [({"avx512_bf16"}, "mixed_bfloat16"), (set(), "float32")])
def test_precision_auto_on_the_command_line_records_the_resolved_policy(monkeypatch, flags, expected):
    from engine.train import build_config, parse_args

    monkeypatch.setattr(precision_module, "read_cpu_flags", lambda: frozenset(flags))
    assert build_config(parse_args(["--precision", "auto"])).precision == expected
