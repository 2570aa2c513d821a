"""One function per experiment, registered by name. Each docstring gives the command and the result to expect.

Two kinds, kept apart: the five tutorials' recipes **as published** (`PUBLISHED`, engine/presets/published.py), and
the engine's own recipes (`ENGINE_RECIPES`, engine/presets/recipes.py: the engine's best settings, measured in
benchmarks/results/). A preset's decorator says its kind.
"""

from engine.presets import published, recipes  # noqa: F401  (importing a file registers its presets)
from engine.presets.recipes import STEPS_FAST  # noqa: F401
from engine.presets.registry import KINDS, PRESETS, get_preset  # noqa: F401

PUBLISHED = tuple(name for name, kind in KINDS.items() if kind == "published")
ENGINE_RECIPES = tuple(name for name, kind in KINDS.items() if kind == "engine")
