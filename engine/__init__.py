"""GAN engine: custom-loop GAN training on TensorFlow 2 / Keras 3."""

from engine.version import __version__  # noqa: F401
