"""Every preset's generator exports to SavedModel, TFLite and ONNX within the parity budget (1e-4), optimised graph
included, with random BatchNorm statistics."""

import pytest

from benchmarks.export_graph import perturb_batchnorm
from engine import models
from engine.presets import PRESETS, get_preset
from engine.run import reading as runread
from export import metadata
from export.onnx import write_onnx
from export.optimise import optimise
from export.savedmodel import write_savedmodel
from export.tflite import write_tflite

# Presets that build another preset's generator (same family, shape and classes) export in the default run once,
# as that preset; all of them with -m slow.
SAME_GENERATOR = (
    "cdcgan_fashion_aux",  # cdcgan_fashion's generator (its D differs)
    "cdcgan_fashion_long",
    "dcgan_fashion_adam",
    "dcgan_fashion_fast",
    "dcgan_fashion_long",
    "dcgan_fashion_modern",
    "folder_projected",  # folder's generator (its D differs)
)


@pytest.mark.parametrize(
    "preset", [pytest.param(p, marks=pytest.mark.slow) if p in SAME_GENERATOR else p for p in sorted(PRESETS)]
)
def test_preset_generator_exports_in_every_format(preset, tmp_path):
    cfg = get_preset(preset)
    generator = models.build_generator(cfg)
    perturb_batchnorm(generator)  # fresh BatchNorms are the identity: folding them must be checked on real ones
    meta = runread.generator_metadata(
        cfg, step=0, checkpoint_sha="0" * 64, class_names=[str(i) for i in range(cfg.num_classes)]
    )
    # Each writer verifies parity at batch 1 and 16 and raises (writing nothing) if it is over budget; by default
    # they write the optimised graph (export.optimise), checked against this generator itself.
    for write, name in ((write_onnx, "g.onnx"), (write_tflite, "g.tflite"), (write_savedmodel, "saved")):
        assert write(generator, meta, tmp_path / name).exists()
    rewritten = bool(optimise(generator)[1])  # dcgan_mnist: no layer the rule rewrites, so the plain graph
    assert metadata.read_sidecar(tmp_path / "g.onnx")["graph"] == ("optimised" if rewritten else "plain")
    assert rewritten or preset == "dcgan_mnist"


# the families with UpSampling2D; alphabet's (the slower) with -m slow
@pytest.mark.parametrize("preset", [pytest.param("alphabet", marks=pytest.mark.slow), "acgan_mnist"])
def test_upsampling_exports_use_the_current_resize_mode_and_load_without_warnings(preset, tmp_path, capfd):
    """In the plain graph UpSampling2D becomes Resize(nearest, asymmetric, floor), not the deprecated
    tf_half_pixel_for_nn that onnxruntime warns about at every load; write_onnx's parity check (1e-4 vs Keras) passed
    for it. The optimised graph has no Resize: each UpSampling2D folded into the convolution after it."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    cfg = get_preset(preset)
    generator = models.build_generator(cfg)
    meta = runread.generator_metadata(
        cfg, step=0, checkpoint_sha="0" * 64, class_names=[str(i) for i in range(cfg.num_classes)]
    )
    optimised = write_onnx(generator, meta, tmp_path / "optimised.onnx")
    assert not [n for n in onnx.load(str(optimised)).graph.node if n.op_type == "Resize"]  # folded into the convs
    path = write_onnx(generator, meta, tmp_path / "g.onnx", plain=True)
    resizes = [n for n in onnx.load(str(path)).graph.node if n.op_type == "Resize"]
    assert resizes
    for node in resizes:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        assert attrs["coordinate_transformation_mode"] == b"asymmetric" and attrs["nearest_mode"] == b"floor"
    capfd.readouterr()
    options = ort.SessionOptions()
    options.log_severity_level = 1  # warnings and above
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    assert "tf_half_pixel_for_nn" not in capfd.readouterr().err
