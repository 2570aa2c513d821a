"""GAN engine: custom-loop GAN training on TensorFlow 2 / Keras 3."""

__version__ = "0.1.0"
