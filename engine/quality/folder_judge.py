"""Scores a folder run's images in pixel features (engine.quality.pixels), against half of the folder itself.

A folder of the user's own images has a few thousand images, no classifier and no test split worth the name, so:

  - every image of the folder (all the loader reads) is taken at the feature shape, in a fixed random order (seed 0);
  - the first half is the **reference**: the features are fitted on it and every score is against it;
  - the other half is the **floor**: real images the features never saw, scored like a generator's;
  - a generator is scored with as many images as the floor holds (at most half the folder: a larger N asked for is
    capped, so the floor is always at the same N), and so is **noise** (Gaussian, at the run's image shape);
  - a conditional run is asked for the floor half's own labels, so its class mix is the data's.

Each half holds at most MAX_HALF images. The fitted features and both halves' features and labels are cached in
<cache>/features/image_folder/pixels-<key>.npz, key = sha256 of the folder's file list (path, size, mtime), the
feature shape and the method (pixels.VERSION, COMPONENTS): a changed folder is a new key.
"""

import hashlib
import os
from pathlib import Path

import numpy as np

from engine.errors import UserError
from engine.quality import manifold, metrics, pixels, registry
from engine.quality.evaluator import cache_root

DATASET = "image_folder"
MAX_HALF = 10_000  # images per half at most: N = 10,000 is plenty for FID; more only costs memory and time
MIN_HALF = max(manifold.NEAREST_K + 2, pixels.IMAGES_PER_COMPONENT)  # k-NN needs > k per set; PCA one component
ORDER_SEED = 0
KID_SUBSETS = registry.KID_SUBSETS


def folder_key(data_dir, shape) -> str:
    """16 hex digits naming the folder's current file list (relative path, size, mtime) and the feature method."""
    from engine.data.image_folder import list_images

    root = Path(data_dir).expanduser()
    digest = hashlib.sha256(f"v{pixels.VERSION} c{pixels.COMPONENTS} {shape} s{ORDER_SEED}\n".encode())
    for path in list_images(root):
        stat = path.stat()
        # os.fsencode: a name's bytes as the file system has them (a non-UTF-8 name is no UnicodeEncodeError)
        digest.update(os.fsencode(path.relative_to(root)) + f"\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


class FolderJudge:
    """Pixel features fitted on one half of a folder, that half's features as the reference, the other as the floor.

    Args:
      data_dir: the folder (as for training).
      image_shape: the run's (H, W, C): the channels of the features, and the shape noise is drawn at.
      cache_dir: cache root (default $GAN_ENGINE_CACHE or ~/.cache/gan-engine).
    Raises:
      UserError: the folder is missing or unreadable (from the loader), or too small to halve (fewer than 2 *
        MIN_HALF images).
    """

    def __init__(self, data_dir, *, image_shape, cache_dir=None):
        if data_dir is None:
            raise UserError(f"{DATASET} needs --data-dir DIR to evaluate against (the folder the run trained on)")
        self.image_shape = tuple(image_shape)
        self.shape = pixels.feature_shape(image_shape)
        key = folder_key(data_dir, self.shape)
        path = cache_root(cache_dir) / "features" / DATASET / f"pixels-{key}.npz"
        state = dict(np.load(path)) if path.exists() else self._build(data_dir, path)
        self.features = pixels.PixelFeatures.from_arrays(state)
        self.reference_feats, self.floor_feats = state["reference_feats"], state["floor_feats"]
        labelled = state["reference_labels"].size > 0
        self.reference_labels = state["reference_labels"] if labelled else None
        self.floor_labels = state["floor_labels"] if labelled else None
        self.reference_source = f"{Path(data_dir).expanduser()} ({DATASET}, one half of its images)"
        self.info = {
            "features": "pixel_pca",
            "views": list(pixels.VIEWS),
            "feature_shape": list(self.shape),
            "dims": int(self.features.dims),
            "scaling": "each view to mean component variance 1",
            "folder_images": int(state["num_images"]),
            "reference_images": len(self.reference_feats),
            "floor_images": len(self.floor_feats),
            "key": key,
        }
        self.reference_stats = metrics.feature_stats(self.reference_feats)
        self.reference_radii = manifold.knn_radii(self.reference_feats)

    def _build(self, data_dir, path: Path) -> dict:
        from engine.data.registry import load_dataset
        from engine.quality.evaluator import to_unit

        data = load_dataset(DATASET, "all", data_dir, self.shape)
        half = min(len(data.images) // 2, MAX_HALF)
        if half < MIN_HALF:
            raise UserError(
                f"{data_dir} has {len(data.images)} readable images; evaluating a folder run takes at least "
                f"{2 * MIN_HALF} (half are the reference, half the floor)"
            )
        order = np.random.default_rng(ORDER_SEED).permutation(len(data.images))
        reference, floor = order[:half], order[half : 2 * half]
        features = pixels.PixelFeatures.fit(to_unit(data.images[reference]))
        empty = np.zeros(0, np.int32)
        state = {
            **features.arrays(),
            "reference_feats": features(to_unit(data.images[reference])),
            "floor_feats": features(to_unit(data.images[floor])),
            "reference_labels": data.labels[reference] if data.labels is not None else empty,
            "floor_labels": data.labels[floor] if data.labels is not None else empty,
            "num_images": np.array(len(data.images)),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}-{os.getpid()}.npz")  # two processes may build the same cache at once
        np.savez(tmp, **state)
        tmp.replace(path)
        return state

    def samples(self, n: int) -> int:
        """The N a generator is scored with when `n` are asked for: at most the floor's size."""
        return min(n, len(self.floor_feats))

    def sample_labels(self, n: int, num_classes: int):
        """Labels to ask a conditional generator for: the floor half's own (the data's class mix), else balanced."""
        if not num_classes:
            return None
        if self.floor_labels is not None and n <= len(self.floor_labels):
            return self.floor_labels[:n].astype(np.int32)
        return (np.arange(n) % num_classes).astype(np.int32)

    def score(self, images01, labels=None, *, seed: int = 0, kid_subsets: int = KID_SUBSETS) -> dict:
        """Metrics of images (float32 NHWC in [0, 1], any size with the run's channels) against the reference.

        Returns:
          {"fid", "kid", "kid_stderr", "num_samples", "precision", "recall", "density", "coverage"}, plus with
          `labels` and a labelled folder "intra_fid" (mean over classes of the FID against that class's reference
          images) and "intra_fid_per_class". No classifier, so no score, class balance or class accuracy.
        """
        return self._score(self.features(images01), labels, seed=seed, kid_subsets=kid_subsets)

    def _score(self, feats, labels=None, *, seed: int = 0, kid_subsets: int = KID_SUBSETS) -> dict:
        return registry.score_against(
            self,
            feats,
            labels=labels,
            seed=seed,
            kid_subsets=kid_subsets,
        )

    def floor(self, n: int, *, conditional: bool = False, seed: int = 0) -> dict:
        """The floor half's first `n` images (at most all of it), scored like a generator's."""
        n = self.samples(n)
        labels = self.floor_labels[:n] if conditional and self.floor_labels is not None else None
        return self._score(self.floor_feats[:n], labels, seed=seed)

    def noise(self, n: int, *, num_classes: int = 0, seed: int = 0) -> dict:
        """Gaussian noise (mean 0.5, std 0.25, clipped) at the run's image shape: a generator that learned nothing."""
        n = self.samples(n)
        rng = np.random.default_rng(seed)
        images = np.clip(rng.normal(0.5, 0.25, (n, *self.image_shape)), 0, 1).astype(np.float32)
        return self.score(images, self.sample_labels(n, num_classes), seed=seed)

    def reference_points(self, n: int, *, num_classes: int = 0, seed: int = 0) -> dict:
        """{"floor": ..., "noise": ...}, each at `samples(n)` images."""
        return {
            "floor": self.floor(n, conditional=bool(num_classes), seed=seed),
            "noise": self.noise(n, num_classes=num_classes, seed=seed),
        }
