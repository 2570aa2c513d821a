"""tf.data pipeline: uint8 images in memory -> scaled, shuffled, repeated, batched, prefetched, distributed."""

import numpy as np
import tensorflow as tf

from engine.config import Config
from engine.data import ImageData
from engine.errors import UserError


def check_compatible(data: ImageData, cfg: Config) -> None:
    """Raises UserError if `data` cannot feed the model `cfg` describes."""
    if tuple(data.images.shape[1:]) != tuple(cfg.image_shape):
        raise UserError(
            f"dataset {cfg.dataset} has images {tuple(data.images.shape[1:])} but preset {cfg.preset} "
            f"expects {tuple(cfg.image_shape)}; pick a matching --dataset or --preset"
        )
    if cfg.num_classes and data.labels is None:
        raise UserError(
            f"preset {cfg.preset} is conditional ({cfg.num_classes} classes) but dataset {cfg.dataset} "
            "has no labels; pick a labelled dataset"
        )
    if cfg.num_classes and data.num_classes > cfg.num_classes:
        raise UserError(
            f"dataset {cfg.dataset} has {data.num_classes} classes but preset {cfg.preset} has "
            f"{cfg.num_classes}; set --set num_classes={data.num_classes}"
        )
    if len(data.images) < cfg.batch_size:
        raise UserError(f"dataset {cfg.dataset} has {len(data.images)} images, fewer than batch_size {cfg.batch_size}")


def scale_images(images: tf.Tensor, output_range: tuple[float, float]) -> tf.Tensor:
    """uint8 [0, 255] -> float32 in `output_range` (the generator's output activation range)."""
    lo, hi = output_range
    return tf.cast(images, tf.float32) * ((hi - lo) / 255.0) + lo


def make_dataset(
    data: ImageData, *, global_batch_size: int, output_range, seed: int, start_step: int = 0
) -> tf.data.Dataset:
    """An endless dataset of {"image": float32 [global_batch, H, W, C], "label": int32 [global_batch]} batches.

    The stream is epoch after epoch of the whole data, epoch e in the order of a permutation drawn from (seed, e),
    cut into global batches that may straddle epochs (so the step loop never meets an epoch boundary inside a
    tf.function; the eager loop counts epochs as steps * global_batch_size / len(data)). The order depends only on
    (seed, position), so `start_step` resumes it exactly: the stream starts at its batch `start_step`, the batch an
    uninterrupted run would draw at that step, and the data position needs no checkpointing.
    """
    n = len(data.images)
    labels = data.labels if data.labels is not None else np.zeros(n, np.int32)
    images, labels = tf.constant(data.images), tf.constant(labels, tf.int32)
    first_epoch, offset = divmod(start_step * global_batch_size, n)

    def epoch_order(epoch):
        order = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=tf.stack([seed, epoch]))
        return tf.data.Dataset.from_tensor_slices(order[tf.where(epoch == first_epoch, offset, 0) :])

    ds = tf.data.Dataset.range(first_epoch, 2**62).flat_map(epoch_order)
    ds = ds.batch(global_batch_size, drop_remainder=True)
    # Gathering and scaling a whole batch at once is one vectorised op instead of one per image.
    ds = ds.map(
        lambda i: {"image": scale_images(tf.gather(images, i), output_range), "label": tf.gather(labels, i)},
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    # DATA, not FILE (in memory: no files to split) nor OFF (every worker would read the same slices, so the
    # workers would duplicate each other's images): each worker runs this same seeded stream and keeps its replicas'
    # slices of every global batch, so N workers train on exactly the batches one process with N replicas would
    # (tests/engine/test_multi_worker.py).
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def distribute(ds: tf.data.Dataset, strategy: tf.distribute.Strategy):
    """Splits each global batch across the strategy's replicas."""
    return strategy.experimental_distribute_dataset(ds)
