"""The op profile's Dropout comparison builds Keras's layer inside its block and the engine's outside it."""

import keras

from benchmarks.op_profile import keras_dropout
from engine import models
from engine.models.layers import Dropout
from engine.presets import get_preset


def dropout_types(cfg) -> set:
    return {type(layer) for layer in models.build_discriminator(cfg).layers if isinstance(layer, keras.layers.Dropout)}


def test_keras_dropout_swaps_the_layer_only_inside_the_block():
    cfg = get_preset("cdcgan_fashion_aux")  # its D body lives in two family modules: both patched
    assert dropout_types(cfg) == {Dropout}
    with keras_dropout():
        assert dropout_types(cfg) == {keras.layers.Dropout}
    assert dropout_types(cfg) == {Dropout}
