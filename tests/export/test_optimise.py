"""The optimised export graph (export.optimise): every rewrite equals the layers it replaces, on random weights and
random BatchNorm statistics; what it cannot handle stays; the exporters write it by default, `--plain` does not."""

import json
import sys

import numpy as np
import pytest

from benchmarks.export_graph import perturb_batchnorm
from export import optimise as opt

TOL = 2e-5  # float32 rounding of a few hundred products; a wrong tap or pad is off by O(1)


def perturb(model):
    """Random BatchNorm statistics and affine: a fresh BatchNorm is the identity and would hide a bad fold."""
    perturb_batchnorm(model)
    return model


def random_biases(model, seed: int = 1):
    """Non-zero biases everywhere (Keras initialises them to zero, which would hide a bias that went missing)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if getattr(layer, "use_bias", False) and getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0, 0.5, layer.bias.shape).astype(np.float32))
    return model


def build(shape, body, seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    x = keras.Input(shape, name="x")
    return perturb(random_biases(keras.Model(x, body(x))))


def assert_same(model, rewritten, shape, batch: int = 3):
    x = np.random.default_rng(7).standard_normal((batch, *shape)).astype(np.float32)
    want, got = np.asarray(model(x, training=False)), np.asarray(rewritten(x, training=False))
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= TOL * max(1.0, np.abs(want).max())


def layer_types(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


@pytest.mark.parametrize("form", [opt.PHASES, opt.SUBPIXEL])
@pytest.mark.parametrize(
    "kernel, stride, hw",
    [
        (5, 2, (7, 7)),
        (5, 2, (6, 5)),
        (4, 2, (7, 7)),
        (4, 2, (4, 5)),
        (3, 2, (5, 4)),
        (2, 2, (3, 3)),
        ((5, 3), 2, (4, 6)),
        (1, 2, (3, 3)),
        (5, 1, (6, 6)),
        (4, 1, (5, 4)),
        (3, 3, (4, 4)),
    ],
)
def test_conv2d_transpose_equals_its_phase_form(kernel, stride, hw, form):
    from keras import layers

    shape = (*hw, 5)
    model = build(shape, lambda x: layers.Conv2DTranspose(6, kernel, strides=stride, padding="same")(x))
    rewritten, notes = opt.optimise(model, rule=lambda *a: form)
    assert "Conv2DTranspose" not in layer_types(rewritten) and "PhaseConv" in layer_types(rewritten)
    assert len(notes) == 1
    assert_same(model, rewritten, shape)


def test_five_by_five_stride_two_splits_into_the_four_sub_kernels():
    taps = opt.transpose_taps(5, 2)
    shapes = [k.shape[:2] for k, _ in opt.phase_kernels(np.ones((5, 5, 1, 1)), taps, taps)]
    assert sorted(shapes) == [(2, 2), (2, 3), (3, 2), (3, 3)]
    # the sub-pixel form pads every phase to the 3x3 window: 36 taps where the phases have 25
    big, _ = opt.subpixel_kernel(opt.phase_kernels(np.ones((5, 5, 1, 1)), taps, taps))
    assert big.shape[:2] == (3, 3) and big.shape[3] == 4


@pytest.mark.parametrize("form", [opt.PHASES, opt.SUBPIXEL])
@pytest.mark.parametrize("kernel, hw", [(3, (7, 7)), (2, (7, 6)), (4, (5, 5)), (5, (4, 3))])
def test_upsampling_then_conv2d_equals_its_phase_form(kernel, hw, form):
    from keras import layers

    shape = (*hw, 4)
    model = build(shape, lambda x: layers.Conv2D(6, kernel, padding="same")(layers.UpSampling2D(2)(x)))
    rewritten, _ = opt.optimise(model, rule=lambda *a: form)
    assert "UpSampling2D" not in layer_types(rewritten) and "Conv2D" not in layer_types(rewritten)
    assert_same(model, rewritten, shape)


def test_batchnorm_folds_into_the_dense_before_a_reshape():
    from keras import layers

    model = build((10,), lambda x: layers.BatchNormalization()(layers.Reshape((3, 3, 4))(layers.Dense(36)(x))))
    rewritten, notes = opt.optimise(model)
    assert "BatchNormalization" not in layer_types(rewritten)
    assert any("folded into dense" in n for n in notes)
    assert_same(model, rewritten, (10,))


def test_batchnorm_folds_into_a_conv_before_it_and_into_a_rewritten_one_after_it():
    """Conv2D -> BN (output side), and ConvT(selu) -> BN -> ConvT (input side: the shift becomes a per-pixel bias,
    which differs at the borders), and BN -> UpSampling2D -> Conv2D."""
    from keras import layers

    def body(x):
        h = layers.BatchNormalization()(layers.Conv2D(6, 3, padding="same")(x))
        h = layers.Conv2DTranspose(8, 5, strides=2, padding="same", activation="selu")(h)
        h = layers.Conv2DTranspose(8, 5, strides=2, padding="same")(layers.BatchNormalization()(h))
        h = layers.BatchNormalization(center=False)(layers.LeakyReLU(0.2)(h))
        return layers.Conv2D(3, 3, padding="same", activation="tanh")(layers.UpSampling2D(2)(h))

    model = build((5, 4, 3), body)
    rewritten, notes = opt.optimise(model)
    assert "BatchNormalization" not in layer_types(rewritten)
    assert sum("BatchNorm folded" in n for n in notes) == 3
    assert_same(model, rewritten, (5, 4, 3))


def test_what_the_rewrite_cannot_handle_stays_as_it_is():
    from keras import layers

    def body(x):
        h = layers.BatchNormalization()(layers.Dense(48, activation="relu")(x))  # after a nonlinearity, no conv after
        h = layers.Reshape((4, 4, 3))(h)
        h = layers.Conv2DTranspose(4, 3, strides=2, padding="valid")(h)  # "valid": not handled
        h = layers.Conv2DTranspose(4, 3, strides=(2, 1), padding="same")(h)  # unequal strides: not handled
        return layers.Conv2D(2, 3, padding="same", dilation_rate=2)(layers.UpSampling2D(2)(h))  # dilated: not handled

    model = build((6,), body)
    rewritten, notes = opt.optimise(model)
    assert notes == [] and rewritten is model
    assert opt.make_plan(model).targets == {}


def test_a_kept_conv_transpose_still_takes_the_batchnorm_before_it():
    from keras import layers

    def body(x):
        return layers.Conv2DTranspose(1, 5, strides=2, padding="same", activation="tanh")(
            layers.BatchNormalization()(x)
        )

    model = build((7, 7, 16), body)
    assert opt.choose_form(opt.TRANSPOSE, 2, (5, 5), 64, 1) == opt.KEEP  # the measured rule for tiny outputs
    rewritten, notes = opt.optimise(model)
    assert layer_types(rewritten).count("Folded") == 1 and len(notes) == 1 and "folded" in notes[0]
    assert rewritten.get_layer(model.layers[-1].name).transpose  # still a ConvTranspose, the BN folded into it
    assert_same(model, rewritten, (7, 7, 16))
    rewritten, notes = opt.optimise(model, rule=lambda *a: opt.PHASES)
    assert not rewritten.get_layer(model.layers[-1].name).transpose and len(notes) == 2
    assert_same(model, rewritten, (7, 7, 16))
    with pytest.raises(ValueError, match="valid: phases, subpixel, keep"):
        opt.make_plan(model, rule=lambda *a: "fast")


def test_a_preset_generator_rewrites_every_layer_the_rule_allows():
    from engine import models
    from engine.presets import get_preset

    generator = perturb(random_biases(models.build_generator(get_preset("dcgan_fashion"))))
    rewritten, notes = opt.optimise(generator)
    kinds = layer_types(rewritten)
    assert kinds.count("BatchNormalization") == 0 and kinds.count("PhaseConv") == 2  # 64->1 kept as ConvT + BN
    assert any("4 phases (2x2, 2x3, 3x2, 3x3)" in n for n in notes)
    z = np.random.default_rng(0).standard_normal((4, 100)).astype(np.float32)
    assert np.abs(np.asarray(rewritten(z)) - np.asarray(generator(z, training=False))).max() <= 1e-5


def test_tflite_takes_the_phase_form_for_the_4x4_stride_2_layers_onnx_keeps():
    """LiteRT's TRANSPOSE_CONV is slow where onnxruntime's ConvTranspose is not (export.optimise.RULES)."""
    from engine import models
    from engine.presets import get_preset

    generator = perturb(random_biases(models.build_generator(get_preset("dcgan_any_fashion"))))
    for_onnx, onnx_notes = opt.for_export(generator, kind="onnx")
    for_tflite, tflite_notes = opt.for_export(generator, kind="tflite")
    assert sum("4 phases (2x2, 2x2, 2x2, 2x2)" in n for n in tflite_notes) == 2
    assert not any("phases" in n for n in onnx_notes) and len(onnx_notes) == 3  # the three BatchNorm folds
    assert opt.for_export(generator, plain=True, kind="tflite") == (generator, [])
    z = np.random.default_rng(0).standard_normal((4, 100)).astype(np.float32)
    expected = np.asarray(generator(z, training=False))
    for rewritten in (for_onnx, for_tflite):
        assert np.abs(np.asarray(rewritten(z)) - expected).max() <= 1e-5


def test_the_tflite_export_of_an_any_size_generator_has_no_transpose_conv(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from engine import models
    from engine.presets import get_preset
    from engine.run import reading as runread
    from export.tflite import write_tflite

    cfg = get_preset("dcgan_any_fashion")
    generator = perturb(random_biases(models.build_generator(cfg)))
    meta = runread.generator_metadata(cfg, step=0, checkpoint_sha="0" * 64, class_names=[str(i) for i in range(10)])
    path = write_tflite(generator, meta, tmp_path / "g.tflite")  # verified against the generator on the way
    ops = {op["op_name"] for op in Interpreter(model_path=str(path))._get_ops_details()}
    assert "TRANSPOSE_CONV" not in ops and "CONV_2D" in ops and "DEPTH_TO_SPACE" in ops
    assert "as 4 phases" in (tmp_path / "g.tflite.md").read_text()  # the model card says what was rewritten


@pytest.fixture(scope="module")
def onnx_pair(tmp_path_factory):
    """(generator, meta, optimised path, plain path): dcgan_fashion, random weights, random BatchNorm statistics."""
    from engine import models
    from engine.presets import get_preset
    from engine.run import reading as runread
    from export.onnx import write_onnx

    cfg = get_preset("dcgan_fashion")
    generator = perturb(random_biases(models.build_generator(cfg)))
    meta = runread.generator_metadata(cfg, step=0, checkpoint_sha="0" * 64, class_names=[str(i) for i in range(10)])
    out = tmp_path_factory.mktemp("optimised")
    return (
        generator,
        meta,
        write_onnx(generator, meta, out / "g.onnx"),
        write_onnx(generator, meta, out / "g_plain.onnx", plain=True),
    )


def test_the_optimised_onnx_matches_the_keras_generator_and_says_so(onnx_pair):
    import onnx

    from export.runtime import Generator
    from export.verify import keras_reference

    generator, _, optimised, plain = onnx_pair
    ops = [n.op_type for n in onnx.load(str(optimised)).graph.node]
    plain_ops = [n.op_type for n in onnx.load(str(plain)).graph.node]
    assert plain_ops.count("ConvTranspose") == 2 and ops.count("ConvTranspose") == 1  # the 128->64 layer rewritten
    assert ops.count("DepthToSpace") == 1 and ops.count("Conv") == 4
    assert plain_ops.count("Mul") == 2 and ops.count("Mul") == 0  # tf2onnx's BatchNorm Mul/Add are folded away
    for path, graph in ((optimised, "optimised"), (plain, "plain")):
        g = Generator.load(path, threads=1)
        assert g.graph == graph and json.loads(path.with_name(path.name + ".json").read_text())["graph"] == graph
        z = g.latents(64, seed=3)
        assert np.abs(g(z) - keras_reference(generator, {"z": z})).max() <= 1e-4
    card = optimised.with_name(optimised.name + ".md").read_text()
    assert "| graph | optimised" in card and "4 phases" in card
    assert "| graph | plain" in plain.with_name(plain.name + ".md").read_text()


def test_the_cli_passes_plain_to_every_exporter(monkeypatch, tmp_path):
    from export.common import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "latest").mkdir(parents=True)  # the command refuses a missing run before calling the exporter
    seen = []
    for argv in (["prog", "--plain", "--out", "x.onnx"], ["prog"]):
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as stop:
            main("onnx", lambda run_dir, out, **kwargs: seen.append(kwargs), "generator.onnx")
        assert stop.value.code == 0
    assert [k["plain"] for k in seen] == [True, False]
