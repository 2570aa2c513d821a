"""Datasets: a registry of loaders returning uint8 images in memory, and the tf.data pipeline over them."""

from dataclasses import dataclass

import numpy as np

from engine.registry import Registry

# name -> loader `load(split, data_dir, image_shape) -> ImageData`, filled by each loader module's decorator; the
# loaders are imported (and so registered) by engine.data.registry, which they never import back.
DATASETS = Registry("dataset")
DESCRIPTIONS: dict[str, str] = {}  # name -> one line for model cards: what the data is, whose, its licence


def register(name: str, description: str):
    """Decorator registering a loader under `name`, with the one line a model card says of the data."""

    def add(load):
        DESCRIPTIONS[name] = description
        return DATASETS.register(name)(load)

    return add


@dataclass(frozen=True)
class ImageData:
    """A dataset split held in memory.

    Attributes:
      images: uint8 array [N, H, W, C].
      labels: int32 array [N] with values in [0, num_classes), or None for unlabeled data.
      class_names: one name per class (empty for unlabeled data).
      source: where the data was read from, for logs.
    """

    images: np.ndarray
    labels: np.ndarray | None
    class_names: tuple[str, ...]
    source: str

    @property
    def num_classes(self) -> int:
        return len(self.class_names)
