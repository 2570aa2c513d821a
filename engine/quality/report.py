"""Scores a set of images against a dataset's test split, and the two reference points measured the same way.

Every number is a function of N (FID is biased by the sample size), so compare runs, and the floor, at equal N.
"""

import hashlib
import json
from pathlib import Path

import numpy as np

from engine.quality import manifold, metrics, registry
from engine.quality.evaluator import INFO_FILE, evaluator_dir, load_evaluator, to_unit

KID_SUBSETS = registry.KID_SUBSETS


def to_unit_range(images, output_range) -> np.ndarray:
    """Images in `output_range` -> float32 in [0, 1], clipped (a generator may overshoot its range slightly)."""
    lo, hi = output_range
    return np.clip((np.asarray(images, np.float32) - lo) / (hi - lo), 0.0, 1.0)


class Judge:
    """The dataset's evaluator plus the features of its reference split (the test split), computed once.

    Args:
      dataset: dataset name; its evaluator must have been trained (else UserError with the command).
      data_dir: where the dataset's files are (as for training).
      cache_dir: evaluator cache root (default $GAN_ENGINE_CACHE or ~/.cache/gan-engine).
      num_reference: use this many test images (a fixed random subset), default all.
      image_shape: checked against the evaluator's.
    """

    def __init__(
        self, dataset: str, *, data_dir=None, cache_dir=None, num_reference: int | None = None, image_shape=None
    ):
        from engine.data.registry import load_dataset

        self.dataset, self.data_dir, self.cache_dir = dataset, data_dir, cache_dir
        self.evaluator = load_evaluator(dataset, data_dir=data_dir, cache_dir=cache_dir, image_shape=image_shape)
        self._image_shape = image_shape
        test = load_dataset(dataset, "test", data_dir, image_shape)
        feats = self._reference_features(test.images)
        keep = np.random.default_rng(0).permutation(len(feats))[:num_reference]
        self.reference_feats = feats[keep]
        self.reference_labels = test.labels[keep] if test.labels is not None else None
        self.reference_source = test.source
        self.reference_stats = metrics.feature_stats(self.reference_feats)
        self.reference_radii = manifold.knn_radii(self.reference_feats)

    def _reference_features(self, images_uint8) -> np.ndarray:
        """Features of the test split, cached in the evaluator cache (keyed by the images' bytes and the evaluator)."""
        key = hashlib.sha256(np.ascontiguousarray(images_uint8).tobytes()).hexdigest()[:16]
        path = evaluator_dir(self.dataset, self.cache_dir) / f"reference-{key}-{self.evaluator.info['sha256'][:12]}.npy"
        if path.exists():
            return np.load(path)
        feats = self.evaluator.features(to_unit(images_uint8))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, feats)
        tmp.replace(path)
        return feats

    def score(self, images01, labels=None, *, seed: int = 0, kid_subsets: int = KID_SUBSETS) -> dict:
        """Metrics of images (float32 NHWC in [0, 1]) against the reference split.

        Returns:
          {"fid", "kid", "kid_stderr", "score", "score_std", "num_samples", "precision", "recall", "density",
          "coverage" (engine.quality.manifold), "class_counts", "class_entropy", "class_ratio" (metrics.class_balance:
          the evaluator's predicted classes of the images)}, plus with `labels` (the classes the
          images were asked to be) "class_accuracy" (the evaluator agrees with the label) and "intra_fid" (mean
          over classes of the FID between that class's images and that class's reference images).
        """
        feats, probs = self.evaluator.outputs(images01)
        return registry.score_against(
            self,
            feats,
            probs=probs,
            labels=labels,
            seed=seed,
            kid_subsets=kid_subsets,
        )

    def floor(self, n: int, *, conditional: bool = False, seed: int = 0) -> dict:
        """Real train images vs the reference: the best any generator can score with `n` samples."""
        from engine.data.registry import load_dataset

        train = load_dataset(self.dataset, "train", self.data_dir, self._image_shape)
        pick = np.random.default_rng(seed).choice(len(train.images), min(n, len(train.images)), replace=False)
        labels = train.labels[pick] if conditional else None
        return self.score(to_unit(train.images[pick]), labels, seed=seed)

    def noise(self, n: int, *, num_classes: int = 0, seed: int = 0) -> dict:
        """Gaussian noise (mean mid-range, std a quarter of the range, clipped): a generator that learned nothing."""
        rng = np.random.default_rng(seed)
        images = np.clip(rng.normal(0.5, 0.25, (n, *self.evaluator.image_shape)), 0, 1).astype(np.float32)
        labels = np.arange(n) % num_classes if num_classes else None
        return self.score(images, labels, seed=seed)

    def reference_points(self, n: int, *, num_classes: int = 0, seed: int = 0) -> dict:
        """{"floor": ..., "noise": ...}, each scored like a generator's `n` images."""
        return {
            "floor": self.floor(n, conditional=bool(num_classes), seed=seed),
            "noise": self.noise(n, num_classes=num_classes, seed=seed),
        }

    def samples(self, n: int) -> int:
        """The N a generator is scored with when `n` are asked for (any N: the floor draws from the train split)."""
        return n

    def sample_labels(self, n: int, num_classes: int):
        """Labels to ask a conditional generator for: every class in turn (the datasets here are balanced)."""
        return (np.arange(n) % num_classes).astype(np.int32) if num_classes else None

    @property
    def info(self) -> dict:
        """What the features are, for evaluation.json and reports."""
        keys = ("test_accuracy", "source", "trained_at", "sha256", "shipped")
        return {"features": "evaluator", **{k: self.evaluator.info.get(k) for k in keys}}


def make_judge(dataset: str, *, data_dir=None, cache_dir=None, image_shape=None):
    """The judge of a run's dataset: its evaluator (trained into the cache, or shipped), or for an image folder
    without an evaluator trained on that very folder at that shape, pixel features (engine.quality.folder_judge).

    Raises:
      UserError: no evaluator for a dataset other than image_folder (the message gives the command), or the data's.
    """
    from engine.quality.folder_judge import DATASET, FolderJudge

    if dataset == DATASET and not has_folder_evaluator(data_dir, cache_dir, image_shape):
        return FolderJudge(data_dir, image_shape=image_shape, cache_dir=cache_dir)
    return Judge(dataset, data_dir=data_dir, cache_dir=cache_dir, image_shape=image_shape)


def check_judge(dataset: str, *, data_dir=None, cache_dir=None, image_shape=None) -> None:
    """Raises what make_judge would, cheaply, before a run starts: loads the evaluator, or for an image folder builds
    (and caches) its pixel features, so the run's own judge then loads them."""
    from engine.quality.folder_judge import DATASET

    if dataset == DATASET and not has_folder_evaluator(data_dir, cache_dir, image_shape):
        make_judge(dataset, data_dir=data_dir, cache_dir=cache_dir, image_shape=image_shape)
    else:
        load_evaluator(dataset, data_dir=data_dir, cache_dir=cache_dir, image_shape=image_shape)


def has_folder_evaluator(data_dir, cache_dir, image_shape) -> bool:
    """Whether the cached image_folder evaluator was trained on `data_dir` (as given) at `image_shape`: the cache
    holds one evaluator per dataset name, and one trained on another folder must not judge this one."""
    path = evaluator_dir("image_folder", cache_dir) / INFO_FILE
    if data_dir is None or image_shape is None or not path.exists():
        return False
    info = json.loads(path.read_text())
    source = f"{Path(data_dir).expanduser()} (image_folder train)"
    return info.get("source") == source and tuple(info.get("image_shape", ())) == tuple(image_shape)


def evaluate_images(
    images, *, dataset: str, output_range, labels=None, data_dir=None, cache_dir=None, num_reference: int | None = None
) -> dict:
    """FID, KID (with standard error) and classifier score of `images` against `dataset`'s test split.

    Args:
      images: float32 NHWC in `output_range` (e.g. a generator's or an exported model's outputs).
      labels: the classes a conditional generator was asked for; adds "class_accuracy" and "intra_fid".
    Returns:
      See Judge.score.
    """
    judge = Judge(
        dataset, data_dir=data_dir, cache_dir=cache_dir, num_reference=num_reference, image_shape=np.shape(images)[1:]
    )
    return judge.score(to_unit_range(images, output_range), labels)


def reference_points(
    n: int,
    *,
    dataset: str,
    num_classes: int = 0,
    data_dir=None,
    cache_dir=None,
    num_reference: int | None = None,
    seed: int = 0,
) -> dict:
    """The floor (real train vs test) and the noise reference at `n` samples; see Judge.reference_points."""
    judge = Judge(dataset, data_dir=data_dir, cache_dir=cache_dir, num_reference=num_reference)
    return judge.reference_points(n, num_classes=num_classes, seed=seed)
