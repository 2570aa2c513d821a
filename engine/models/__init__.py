"""Model families: one file each, registered by name, all with the same small API.

A family provides `build_generator(cfg) -> keras.Model` and `build_discriminator(cfg) -> keras.Model`.
Generators are functional models of built-in layers (so `.keras` files load without custom objects):
input `z` [batch, latent_dim] (plus `label` int32 [batch] when cfg.num_classes > 0), output an image in
cfg.output_range. Discriminators map an image (plus label, for projection-style families) to logits [batch, 1]
(and class logits [batch, num_classes] for auxiliary-classifier families).
"""

import importlib
import pkgutil

from engine.config import Config
from engine.models.family import (  # noqa: F401  (re-exported: the package is where callers find them)
    CLASS_HEAD,
    CONDITIONINGS,
    LABEL_FED_TO_D,
    MODELS,
    Family,
    dropout_rate,
    register,
)


def build_generator(cfg: Config):
    return MODELS.get_or_fail(cfg.model).build_generator(cfg)


def build_discriminator(cfg: Config):
    return MODELS.get_or_fail(cfg.model).build_discriminator(cfg)


# Importing a family module registers it: every module in this folder is imported, so a new family is one new file.
for _member in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_member.name}")
