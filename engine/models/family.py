"""What a model family is, and the registry of them: a leaf that every family file imports to register itself."""

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
    sizes: tuple[int, ...] = ()  # the square sizes an any-size family builds
    credits: str = ""  # pretrained parts its networks use, their source and licence (a model card names them)


MODELS = Registry("model family")


def register(
    name: str,
    build_generator: Callable,
    build_discriminator: Callable,
    conditioning: str = "none",
    *,
    any_size: bool = False,
    conditional: str | None = None,
    sizes: tuple[int, ...] = (),
    credits: str = "",
) -> None:
    if conditioning not in CONDITIONINGS:
        raise ValueError(f"unknown conditioning {conditioning!r}")
    if any_size != bool(sizes):
        raise ValueError(f"{name}: an any-size family names the sizes it builds, and only it")
    family = Family(build_generator, build_discriminator, conditioning, any_size, conditional, sizes, credits)
    MODELS.register(name)(family)


def dropout_rate(cfg: Config, default: float) -> float:
    """The rate of a family's Dropout layers: `cfg.dropout` when set, else the family's own `default`."""
    return default if cfg.dropout is None else cfg.dropout
