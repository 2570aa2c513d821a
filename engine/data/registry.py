"""The dataset registry: name -> loader `load(split="train", data_dir=None, image_shape=None) -> ImageData`.

`image_shape` is the preset's (H, W, C): loaders of fixed-size data ignore it (the engine checks compatibility),
loaders that can resize (image_folder) produce exactly it.

Loaders register themselves in `engine.data.DATASETS` when imported, which this module does.
"""

# Importing a loader registers it.
from engine.data import DATASETS, DESCRIPTIONS, az_csv, emnist, image_folder, mnist  # noqa: F401


def load_dataset(name: str, split: str = "train", data_dir: str | None = None, image_shape=None):
    """Loads split `split` of dataset `name` (an engine.data.ImageData); unknown names list the valid ones."""
    return DATASETS.get_or_fail(name)(split=split, data_dir=data_dir, image_shape=image_shape)


def describe(name: str) -> str:
    """The one line a model card says of dataset `name` (the name itself when it has none)."""
    return DESCRIPTIONS.get(name, name)
