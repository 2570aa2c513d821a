"""Frozen pretrained networks that a discriminator sits on; built once, weights from a pinned, checksummed package file.

Importing this package loads nothing and fetches nothing: `mobilenet_v2.build` does the work when called, and
`python -m engine.models.backbones.weights` fetches and converts the weights ahead of time.
"""
