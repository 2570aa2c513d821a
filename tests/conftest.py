"""Shared fixtures. TensorFlow is split into 2 logical CPU devices before it starts, so `mirrored` runs here."""

import dataclasses
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_configure(config):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


def write_fashion_like(directory, n: int = 256, seed: int = 0) -> None:
    """Four small IDX files in Fashion-MNIST's layout: blobs of varying brightness so the GAN has signal."""
    from engine.data.idx import write_idx
    from engine.data.mnist import SPLITS

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:28, :28]
    for images_file, labels_file in SPLITS.values():
        centers = rng.uniform(8, 20, size=(n, 2))
        images = 255 * np.exp(-((yy - centers[:, :1, None]) ** 2 + (xx - centers[:, 1:, None]) ** 2) / 30)
        write_idx(directory / images_file, images.astype(np.uint8))
        write_idx(directory / labels_file, rng.integers(0, 10, n).astype(np.uint8))


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fashion_like")
    write_fashion_like(directory)
    return directory


def make_tiny_config(**changes):
    """dcgan_fashion cut to 4 steps of batch 32 (checkpoint every 2, a log every step), with `changes` applied."""
    from engine.config import with_update_order
    from engine.presets import get_preset

    base = dict(batch_size=32, steps=4, epochs=0, checkpoint_every=2, log_every=1, sample_count=16)
    cfg = get_preset("dcgan_fashion")
    if "update_order" in changes:
        cfg = with_update_order(cfg, changes.pop("update_order"))
    return dataclasses.replace(cfg, **{**base, **changes})


@pytest.fixture(scope="session")
def tiny_config():
    """The factory of small configs: `tiny_config(steps=6, update_order="alternating")`."""
    return make_tiny_config


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, data_dir):
    """A dcgan_fashion run of 4 steps under the default strategy, shared by the export tests."""
    import tensorflow as tf

    from engine.config import RunOptions
    from engine.run.loop import train

    run_dir = tmp_path_factory.mktemp("run")
    train(make_tiny_config(), RunOptions(data_dir=str(data_dir)), run_dir, tf.distribute.get_strategy())
    return run_dir


@pytest.fixture(scope="session")
def evaluator_cache(tmp_path_factory, data_dir):
    """A 1-epoch evaluator on the tiny Fashion-like data in a private cache (used there instead of the shipped one),
    shared by the quality tests (its accuracy is meaningless: the fixture's labels are random; those tests check
    plumbing and metric behaviour)."""
    from engine.quality.evaluator import train_evaluator

    root = tmp_path_factory.mktemp("evaluator_cache")
    train_evaluator("fashion_mnist", data_dir=data_dir, cache_dir=root, epochs=1, verbose=0, force=True)
    return root
