"""GAN engine: custom-loop GAN training on TensorFlow 2 / Keras 3.

From Python (docs/python.md): `engine.fit(...)` trains a run and returns an `engine.Run`; `engine.open_run(path)`
reopens one. They live in engine.api, imported at their first use, so `import engine` (and every command) stays
cheap.
"""

from engine.version import __version__  # noqa: F401

_API = ("fit", "open_run", "Run")


def __getattr__(name: str):
    if name in _API:
        from engine import api

        return getattr(api, name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
