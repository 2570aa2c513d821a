"""The judge: a small CNN classifier per dataset, trained by the project, cached on disk; features = penultimate layer.

Inception weights cannot be downloaded here and judge 28x28 grayscale poorly anyway, so, as TF-GAN did for MNIST
(`mnist_frechet_distance`, `mnist_score`), the metrics use a classifier trained on the dataset itself.

Shipped evaluators (inside the package, so every user's FID is measured by the same weights, as torch-fidelity and
TF-GAN fix their feature extractors): engine/quality/evaluators/<dataset>/{evaluator.keras, evaluator.json}, the
JSON holding the file's sha256, its test accuracy and the command that trained it. Fashion-MNIST ships one.

Cache layout (root: `cache_dir`, else $GAN_ENGINE_CACHE, else ~/.cache/gan-engine):
  evaluators/<dataset>/evaluator.keras   a classifier trained here (used instead of a shipped one; see load_evaluator)
  evaluators/<dataset>/evaluator.json    test accuracy, data source, image shape, classes, date
  evaluators/<dataset>/reference-*.npy   cached features of a reference split, keyed by images and evaluator
"""

import datetime
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.errors import UserError, first_line

MODEL_FILE = "evaluator.keras"
INFO_FILE = "evaluator.json"
FEATURE_LAYER = "features"
VAL_FRACTION = 0.1  # held-out slice of the train split, for the accuracy printed while training
SHIPPED = Path(__file__).parent / "evaluators"


def cache_root(cache_dir=None) -> Path:
    return Path(cache_dir or os.environ.get("GAN_ENGINE_CACHE") or "~/.cache/gan-engine").expanduser()


def evaluator_dir(dataset: str, cache_dir=None) -> Path:
    return cache_root(cache_dir) / "evaluators" / dataset


def shipped_dir(dataset: str) -> Path | None:
    """The package's evaluator of `dataset`, or None when none ships."""
    directory = SHIPPED / dataset
    return directory if (directory / INFO_FILE).exists() else None


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train_command(dataset: str, data_dir=None) -> str:
    extra = f" --data-dir {data_dir}" if data_dir else ""
    return f"python -m engine.evaluate --train-evaluator --dataset {dataset}{extra}"


def build_classifier(image_shape, num_classes: int):
    """Two conv blocks (32, 64 channels; BN, ReLU, 2x2 pooling), Dense(128) = the features, softmax head.

    Small on purpose: > 90% on Fashion-MNIST in a few CPU epochs, and cheap enough to score thousands of images
    at every evaluation during training.
    """
    import keras
    from keras import layers

    x = image = keras.Input(tuple(image_shape), name="image")
    for filters in (32, 64):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Dropout(0.25)(layers.Flatten()(x))
    features = layers.Dense(128, activation="relu", name=FEATURE_LAYER)(x)
    probs = layers.Dense(num_classes, activation="softmax", name="probabilities")(layers.Dropout(0.4)(features))
    return keras.Model(image, probs, name="evaluator")


class Evaluator:
    """A trained classifier. Images go in as float32 NHWC in [0, 1]."""

    def __init__(self, model, info: dict):
        import keras

        self.model = model
        self.info = info
        self._both = keras.Model(model.input, [model.get_layer(FEATURE_LAYER).output, model.output])

    @property
    def test_accuracy(self) -> float:
        return self.info["test_accuracy"]

    @property
    def image_shape(self) -> tuple:
        return tuple(self.info["image_shape"])

    def outputs(self, images01, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
        """(features [N, 128], class probabilities [N, classes]) in one pass."""
        images01 = np.asarray(images01, np.float32)
        if images01.shape[1:] != self.image_shape:
            raise ValueError(
                f"evaluator expects images [N, {', '.join(map(str, self.image_shape))}], got {list(images01.shape)}"
            )
        if images01.size and (images01.min() < -1e-3 or images01.max() > 1 + 1e-3):
            raise ValueError(f"evaluator expects images in [0, 1], got [{images01.min():.3f}, {images01.max():.3f}]")
        feats, probs = [], []
        for start in range(0, len(images01), batch_size):
            f, p = self._both(images01[start : start + batch_size], training=False)
            feats.append(np.asarray(f))
            probs.append(np.asarray(p))
        return np.concatenate(feats), np.concatenate(probs)

    def features(self, images01) -> np.ndarray:
        return self.outputs(images01)[0]

    def probabilities(self, images01) -> np.ndarray:
        return self.outputs(images01)[1]


def to_unit(images_uint8) -> np.ndarray:
    return np.asarray(images_uint8, np.float32) / 255.0


def train_evaluator(
    dataset: str,
    *,
    data_dir=None,
    cache_dir=None,
    epochs: int = 6,
    image_shape=None,
    seed: int = 0,
    force: bool = False,
    verbose: int = 2,
) -> Evaluator:
    """Trains the dataset's classifier on its train split and caches it with its test accuracy.

    Args:
      dataset: a name in engine.data.registry.DATASETS with labels.
      epochs: passes over the train split (minus the held-out slice).
      image_shape: for datasets that resize (image_folder); fixed-size datasets ignore it.
      force: replace an existing evaluator (its reference caches go with it); without it an existing one is an error.
    Returns:
      The trained Evaluator.
    Raises:
      UserError: an evaluator exists and not `force`; unlabeled data; data problems from the loader.
    """
    import keras

    from engine.data.registry import load_dataset

    target = evaluator_dir(dataset, cache_dir)
    if not force:
        _refuse_replacing(dataset, target)
    train = load_dataset(dataset, "train", data_dir, image_shape)
    test = load_dataset(dataset, "test", data_dir, image_shape)
    if train.labels is None or train.num_classes < 2:
        raise UserError(
            f"dataset {dataset} ({train.source}) has no class labels; the evaluator is a classifier "
            "and needs labelled images (e.g. one sub-folder per class)"
        )
    model, history, seconds = _fit(train, epochs=epochs, seed=seed, verbose=verbose)
    _, test_acc = model.evaluate(to_unit(test.images), test.labels, batch_size=500, verbose=0)
    info = {
        "dataset": dataset,
        "source": train.source,
        "image_shape": list(train.images.shape[1:]),
        "num_classes": train.num_classes,
        "class_names": list(train.class_names),
        "test_accuracy": float(test_acc),
        "val_accuracy": float(history.history["val_accuracy"][-1]),
        "test_images": len(test.images),
        "epochs": epochs,
        "train_seconds": round(seconds, 1),
        "trained_at": datetime.datetime.now().isoformat(timespec="seconds"),
        "keras_version": keras.__version__,
    }
    shipped = shipped_dir(dataset)
    if shipped:  # how the new one compares with the one every published number uses
        info["shipped_test_accuracy"] = json.loads((shipped / INFO_FILE).read_text())["test_accuracy"]
    inference = build_classifier(train.images.shape[1:], train.num_classes)  # uncompiled: no optimizer state saved
    inference.set_weights(model.get_weights())
    _publish(inference, info, target)
    return Evaluator(inference, {**info, "sha256": file_sha256(target / MODEL_FILE), "shipped": False})


def _refuse_replacing(dataset: str, target: Path) -> None:
    """Raises UserError when an evaluator exists in `target`, or the dataset has a shipped one: replacing either
    makes FIDs incomparable, so it takes --force."""
    if (target / INFO_FILE).exists():
        acc = json.loads((target / INFO_FILE).read_text()).get("test_accuracy", float("nan"))
        raise UserError(
            f"an evaluator for {dataset} exists in {target} (test accuracy {acc:.4f}); pass --force to "
            "retrain it (FID values measured with the old one will not be comparable)"
        )
    if shipped_dir(dataset):
        acc = json.loads((shipped_dir(dataset) / INFO_FILE).read_text())["test_accuracy"]
        raise UserError(
            f"{dataset} has a shipped evaluator (test accuracy {acc:.4f}) that every published FID uses; "
            f"pass --force to train your own into {target} (it is then used instead, and its FIDs are "
            "not comparable with the shipped one's)"
        )


def _fit(train, *, epochs: int, seed: int, verbose: int):
    """Fits a fresh classifier on `train` less a held-out slice: (model, Keras history, seconds)."""
    import keras

    keras.utils.set_random_seed(seed)
    order = np.random.default_rng(seed).permutation(len(train.images))
    n_val = max(1, int(len(order) * VAL_FRACTION))
    val_idx, fit_idx = order[:n_val], order[n_val:]
    x = to_unit(train.images)
    model = build_classifier(train.images.shape[1:], train.num_classes)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(
        x[fit_idx],
        train.labels[fit_idx],
        validation_data=(x[val_idx], train.labels[val_idx]),
        batch_size=128,
        epochs=epochs,
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    return model, history, seconds


def _publish(model, info: dict, target: Path) -> None:
    """Writes model and info to a staging dir beside `target`, then swaps it in (old reference caches go)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the cache is meant to be shared like any other
    model.save(staging / MODEL_FILE)
    (staging / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)


def load_evaluator(dataset: str, *, data_dir=None, cache_dir=None, image_shape=None) -> Evaluator:
    """The evaluator of `dataset`: one trained into the cache when there is one, else the shipped one.

    Loaded with Keras's safe mode (no code from the file runs); a shipped file is checked against its sha256 first.
    The returned info adds "sha256" (of the .keras file) and "shipped".

    Raises:
      UserError: none trained or shipped (the message gives the command), unreadable or damaged, or trained for
        another image shape.
    """
    import keras

    directory, shipped = evaluator_dir(dataset, cache_dir), False
    if not (directory / INFO_FILE).exists() or not (directory / MODEL_FILE).exists():
        if shipped_dir(dataset) is None:
            raise UserError(
                f"no evaluator for dataset {dataset} in {directory}; train it once with "
                f"`{train_command(dataset, data_dir)}`"
            )
        directory, shipped = shipped_dir(dataset), True
    try:
        info = json.loads((directory / INFO_FILE).read_text())
        sha = file_sha256(directory / MODEL_FILE)
        if shipped and sha != info["sha256"]:
            raise UserError(
                f"the shipped evaluator {directory / MODEL_FILE} is damaged (sha256 {sha[:12]}..., "
                f"expected {info['sha256'][:12]}...); reinstall the package (git checkout / pip install)"
            )
        model = keras.models.load_model(directory / MODEL_FILE, safe_mode=True)
    except UserError:
        raise
    except Exception as e:  # keras raises many types for a damaged archive
        fix = "reinstall the package" if shipped else f"retrain it with `{train_command(dataset, data_dir)} --force`"
        raise UserError(f"evaluator in {directory} is unreadable ({first_line(e)}); {fix}") from None
    if image_shape is not None and tuple(image_shape) != tuple(info["image_shape"]):
        raise UserError(
            f"the evaluator for {dataset} was trained on images {tuple(info['image_shape'])}, not "
            f"{tuple(image_shape)}; retrain it with `{train_command(dataset, data_dir)} --force`"
        )
    return Evaluator(model, {**info, "sha256": sha, "shipped": shipped})
