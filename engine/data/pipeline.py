"""tf.data pipeline: uint8 images in memory -> scaled, shuffled, repeated, batched, prefetched, distributed."""

import numpy as np
import tensorflow as tf

from engine.data import ImageData
from engine.errors import UserError


def check_compatible(data: ImageData, cfg) -> None:
    """Raises UserError if `data` cannot feed the model `cfg` describes."""
    if tuple(data.images.shape[1:]) != tuple(cfg.image_shape):
        raise UserError(f"dataset {cfg.dataset} has images {tuple(data.images.shape[1:])} but preset {cfg.preset} "
                        f"expects {tuple(cfg.image_shape)}; pick a matching --dataset or --preset")
    if cfg.num_classes and data.labels is None:
        raise UserError(f"preset {cfg.preset} is conditional ({cfg.num_classes} classes) but dataset {cfg.dataset} "
                        "has no labels; pick a labelled dataset")
    if cfg.num_classes and data.num_classes > cfg.num_classes:
        raise UserError(f"dataset {cfg.dataset} has {data.num_classes} classes but preset {cfg.preset} has "
                        f"{cfg.num_classes}; set --set num_classes={data.num_classes}")
    if len(data.images) < cfg.batch_size:
        raise UserError(f"dataset {cfg.dataset} has {len(data.images)} images, fewer than batch_size {cfg.batch_size}")


def scale_images(images: tf.Tensor, output_range: tuple[float, float]) -> tf.Tensor:
    """uint8 [0, 255] -> float32 in `output_range` (the generator's output activation range)."""
    lo, hi = output_range
    return tf.cast(images, tf.float32) * ((hi - lo) / 255.0) + lo


def make_dataset(data: ImageData, *, global_batch_size: int, output_range, seed: int) -> tf.data.Dataset:
    """An endless dataset of {"image": float32 [global_batch, H, W, C], "label": int32 [global_batch]} batches.

    Endless (repeat before batch, reshuffled each pass) so the step loop never hits an epoch boundary inside a
    tf.function; the eager loop counts epochs as steps * global_batch_size / len(data).
    """
    labels = data.labels if data.labels is not None else np.zeros(len(data.images), np.int32)
    ds = tf.data.Dataset.from_tensor_slices({"image": data.images, "label": labels})
    ds = ds.shuffle(min(len(data.images), 60_000), seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(global_batch_size, drop_remainder=True)
    # Scaling a whole batch at once is one vectorised op instead of one per image.
    ds = ds.map(lambda b: {"image": scale_images(b["image"], output_range), "label": b["label"]},
                num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def distribute(ds: tf.data.Dataset, strategy: tf.distribute.Strategy):
    """Splits each global batch across the strategy's replicas."""
    return strategy.experimental_distribute_dataset(ds)
