"""The op profile's Dropout comparison builds the engine's layer inside its block and Keras's own outside it."""

import keras

from benchmarks.op_profile import engine_dropout
from engine import models
from engine.models.layers import Dropout
from engine.presets import get_preset


def dropout_types(cfg) -> set:
    return {type(layer) for layer in models.build_discriminator(cfg).layers if isinstance(layer, keras.layers.Dropout)}


def test_engine_dropout_swaps_the_layer_only_inside_the_block():
    cfg = get_preset("cdcgan_fashion")  # its D body lives in another family's module: patched too
    assert dropout_types(cfg) == {keras.layers.Dropout}
    with engine_dropout():
        assert dropout_types(cfg) == {Dropout}
    assert dropout_types(cfg) == {keras.layers.Dropout}
