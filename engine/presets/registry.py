"""The preset registry: name -> function returning the Config, filled by two decorators that say the kind.

`@published` marks a tutorial's recipe as published, `@recipe` one of the engine's own; the registered name is the
function's name and `get_preset` writes it into the Config, so a preset's name is written once.
"""

import dataclasses

from engine.config import Config
from engine.registry import Registry

PRESETS = Registry("preset")
KINDS: dict[str, str] = {}  # name -> "published" | "engine", in registration order


def _register(kind: str):
    def add(fn):
        KINDS[fn.__name__] = kind
        return PRESETS.register(fn.__name__)(fn)

    return add


published = _register("published")
recipe = _register("engine")


def get_preset(name: str) -> Config:
    """Returns the Config of preset `name`; an unknown name raises UserError listing the presets."""
    return dataclasses.replace(PRESETS.get_or_fail(name)(), preset=name)
