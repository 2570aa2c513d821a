"""Model families: one file each, registered by name, all with the same small API.

A family provides `build_generator(cfg) -> keras.Model` and `build_discriminator(cfg) -> keras.Model`.
Generators are functional models of built-in layers (so `.keras` files load without custom objects):
input `z` [batch, latent_dim] (plus `label` int32 [batch] when cfg.num_classes > 0), output an image in
cfg.output_range. Discriminators map an image (plus label, for projection-style families) to logits [batch, 1]
(and class logits [batch, num_classes] for auxiliary-classifier families).
"""

from collections.abc import Callable
from dataclasses import dataclass

from engine.config import Config
from engine.registry import Registry

CONDITIONINGS = ("none", "acgan", "input", "input_aux")
LABEL_FED_TO_D = ("input", "input_aux")  # D takes [image, label]
CLASS_HEAD = ("acgan", "input_aux")  # D also returns class logits


@dataclass(frozen=True)
class Family:
    """A model family. `conditioning`: "none"; "acgan" (G takes [z, label], D returns [logit, class_logits]);
    "input" (G takes [z, label], D takes [image, label]); "input_aux" (as "input", and D returns [logit,
    class_logits] with the class logits from the image alone)."""

    build_generator: Callable
    build_discriminator: Callable
    conditioning: str = "none"
    any_size: bool = False  # builds any square size (engine.train picks it from a folder's images); else fixed
    conditional: str | None = None  # the family's class-conditional twin, used when a folder has class sub-folders


MODELS = Registry("model family")


def register(
    name: str,
    build_generator: Callable,
    build_discriminator: Callable,
    conditioning: str = "none",
    *,
    any_size: bool = False,
    conditional: str | None = None,
) -> None:
    if conditioning not in CONDITIONINGS:
        raise ValueError(f"unknown conditioning {conditioning!r}")
    MODELS.register(name)(Family(build_generator, build_discriminator, conditioning, any_size, conditional))


def dropout_rate(cfg: Config, default: float) -> float:
    """The rate of a family's Dropout layers: `cfg.dropout` when set, else the family's own `default`."""
    return default if cfg.dropout is None else cfg.dropout


def build_generator(cfg: Config):
    return MODELS.get_or_fail(cfg.model).build_generator(cfg)


def build_discriminator(cfg: Config):
    return MODELS.get_or_fail(cfg.model).build_discriminator(cfg)


# Importing a family module registers it.
from engine.models import (  # noqa: E402,F401
    acgan_fashion,
    acgan_mnist,
    alphabet,
    balanced_dcgan_mnist,
    cdcgan_fashion,
    cdcgan_fashion_aux,
    dcgan_any,
    dcgan_faces,
    dcgan_fashion,
    dcgan_mnist,
)
