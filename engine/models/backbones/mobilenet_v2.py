"""MobileNetV2's stem through block_10 as frozen multi-scale features, with ImageNet weights (see `weights`).

The input is an image in [-1, 1] (MobileNetV2's own preprocessing range), of any size >= 32; a cut of stride s gives
features of input_size / s pixels a side (rounded up).
"""

import os
import warnings
from pathlib import Path

import keras

from engine.errors import UserError, first_line, printable_path
from engine.models.backbones import weights as _weights

# The layers a discriminator may read, through block_10 only: name -> (stride, channels). Block outputs ("_add" where
# the block has a residual, else "_project_BN", both linear) and the expanded activations (ReLU6) of the blocks that
# halve the resolution.
CUTS = {
    "Conv1_relu": (2, 32),
    "expanded_conv_project_BN": (2, 16),
    "block_1_expand_relu": (2, 96),
    "block_1_project_BN": (4, 24),
    "block_2_add": (4, 24),
    "block_3_expand_relu": (4, 144),
    "block_3_project_BN": (8, 32),
    "block_4_add": (8, 32),
    "block_5_add": (8, 32),
    "block_6_expand_relu": (8, 192),
    "block_6_project_BN": (16, 64),
    "block_7_add": (16, 64),
    "block_8_add": (16, 64),
    "block_9_add": (16, 64),
    "block_10_project_BN": (16, 96),
}

SOURCE = (
    f"MobileNetV2 (alpha 1.0) stem through {_weights.LAST_LAYER}, frozen: ImageNet weights rounded to 8 bits, from "
    f"the TF.js model in npm's {_weights.PACKAGE}@{_weights.VERSION} ({_weights.URL}, {_weights.INTEGRITY}); the "
    "blocks nsfwjs fine-tuned (block_11 on) are not used"
)
LICENCE = (
    f"{_weights.PACKAGE} {_weights.VERSION}: MIT License, Copyright (c) 2019 Infinite Red, Inc. The layers used hold "
    "the ImageNet-trained MobileNetV2 weights of keras-applications (Apache License 2.0), which nsfwjs left frozen"
)


def build(input_size: int, outputs: tuple[str, ...], weights: str | os.PathLike | None = "pretrained") -> keras.Model:
    """The frozen feature extractor: an image [batch, input_size, input_size, 3] in [-1, 1] to the named layers'
    outputs, a list in the order of `outputs`; only the layers up to the deepest cut are in the model.

    Args:
        input_size: the square input's side, >= 32.
        outputs: names from CUTS, at least one, no repeats.
        weights: "pretrained" (the cached converted file, fetched and converted first when missing), the path of
            a converted file (`weights.ensure`'s), or None for random weights (a stand-in for tests).
    Returns:
        A functional model with `trainable = False`: no trainable weights, BatchNormalization in inference mode.
    Raises:
        ValueError: an unknown or repeated cut, or an input smaller than 32.
        UserError: the weights file is missing or does not load (for "pretrained": cannot be fetched).
    """
    unknown = [name for name in outputs if name not in CUTS]
    if not outputs or unknown or len(set(outputs)) != len(outputs):
        raise ValueError(f"outputs must be distinct names from {list(CUTS)}, got {list(outputs)}")
    if input_size < 32:
        raise ValueError(f"MobileNetV2 needs an input of at least 32 pixels a side, got {input_size}")
    # The file is found (or fetched) before the model is built: a wrong path fails at once.
    path = None if weights is None else _weights.ensure() if weights == "pretrained" else Path(weights)
    if path is not None and not path.is_file():
        raise UserError(
            f"no MobileNetV2 weights file at {printable_path(path)}: run `python -m engine.models.backbones.weights` "
            "to fetch and convert one (it prints where it is)"
        )
    base = _weights.backbone(input_size)
    if path is not None:
        load(base, path)
    model = keras.Model(
        base.input, [base.get_layer(name).output for name in outputs], name=f"mobilenet_v2_features_{input_size}"
    )
    model.trainable = False
    return model


def load(model: keras.Model, path: Path) -> None:
    """Loads a converted weights file into `weights.backbone`'s model; a UserError when it is not one."""
    # Keras only warns (a UserWarning) about parts of a file it cannot place, then fails or leaves those layers
    # random: such a warning means the file is not one `weights.backbone` saved, so it is an error, not noise.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(os.fspath(path))
        except (ValueError, KeyError, OSError) as e:
            problem = first_line(e)
        else:
            skipped = [w for w in caught if issubclass(w.category, UserWarning)]
            problem = first_line(skipped[0].message) if skipped else None
    for w in caught:  # the others (deprecations) go where they would have gone
        if not issubclass(w.category, UserWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if problem is not None:
        raise UserError(
            f"{printable_path(path)} is not a converted MobileNetV2 weights file ({problem}): make one with "
            "`python -m engine.models.backbones.weights` (it prints where it is)"
        )
