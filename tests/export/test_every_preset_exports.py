"""Every preset's generator exports to SavedModel, TFLite and ONNX within the parity budget (1e-4)."""

import pytest

from engine import models, rundir
from engine.config import PRESETS, get_preset
from export.onnx import write_onnx
from export.savedmodel import write_savedmodel
from export.tflite import write_tflite


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_generator_exports_in_every_format(preset, tmp_path):
    cfg = get_preset(preset)
    generator = models.build_generator(cfg)
    meta = rundir.generator_metadata(cfg, step=0, checkpoint_sha="0" * 64,
                                     class_names=[str(i) for i in range(cfg.num_classes)])
    # Each writer verifies parity at batch 1 and 16 and raises (writing nothing) if it is over budget.
    for write, name in ((write_onnx, "g.onnx"), (write_tflite, "g.tflite"), (write_savedmodel, "saved")):
        assert write(generator, meta, tmp_path / name).exists()
