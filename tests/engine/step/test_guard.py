"""The divergence guard's one fused finiteness check, its skip-and-restore under more orders and strategies, and
that leaving it out (benchmarks only) is the same step whenever everything is finite."""

import numpy as np
import pytest
import tensorflow as tf

from engine.cluster.strategies import make_strategy
from engine.data.mnist import load_fashion_mnist
from engine.data.pipeline import distribute, make_dataset
from engine.step.gan import GAN
from engine.step.guard import all_finite
from engine.step.traced import make_train_fn
from tests.engine.run.test_faults import poisoned, state


def test_all_finite_is_exact_where_a_norm_would_overflow():
    huge = tf.constant([3e38, -3e38, 1e30])  # finite, but its sum of squares is inf
    assert bool(all_finite([huge, tf.constant(1.0)]))
    for bad in (float("inf"), float("-inf"), float("nan")):
        assert not bool(all_finite([tf.constant(1.0), tf.constant([[0.0, bad]])]))
    assert not bool(all_finite([tf.constant([1.0, float("nan")], tf.bfloat16)]))
    assert bool(all_finite([]))
    rows = tf.IndexedSlices(tf.constant([[1.0, float("nan")]]), tf.constant([3]), tf.constant([5, 2]))
    assert not bool(all_finite([rows])) and bool(all_finite([tf.IndexedSlices(tf.ones([1, 2]), rows.indices)]))


@pytest.mark.parametrize(
    "strategy_name, order, changes",
    [
        ("mirrored", "alternating", {}),
        ("default", "alternating", {"n_critic": 2}),  # both D updates see the NaN batch
        ("mirrored", "simultaneous", {"balance_d": 2.0}),
    ],
)
def test_a_nan_step_is_skipped_and_restored(tiny_config, data_dir, strategy_name, order, changes):
    strategy = make_strategy(strategy_name, 2)
    cfg = tiny_config(update_order=order, **changes)
    with strategy.scope():
        gan = GAN(cfg)
    data = load_fashion_mnist("train", str(data_dir))
    ds = poisoned(make_dataset(data, global_batch_size=cfg.batch_size, output_range=cfg.output_range, seed=0), {1})
    it = iter(distribute(ds, strategy))
    fn = make_train_fn(gan, strategy, jit_compile=False)
    fn(it, tf.constant(1))
    guarded = "gd" if order == "simultaneous" else "d"  # alternating: G's own update sees only fakes, goes ahead
    before = state(gan, guarded)
    out = fn(it, tf.constant(1))  # NaN real images
    assert float(out["skipped"]) == 1.0 and int(gan.skipped_steps.numpy()) == 1
    assert all(np.array_equal(a, b) for a, b in zip(before, state(gan, guarded), strict=True))


@pytest.mark.parametrize("order", [pytest.param("alternating", marks=pytest.mark.slow), "simultaneous"])
def test_without_the_guard_a_finite_run_ends_with_the_same_weights(tiny_config, data_dir, order):
    cfg = tiny_config(update_order=order)
    data = load_fashion_mnist("train", str(data_dir))
    weights = []
    for guard in (True, False):
        tf.keras.utils.set_random_seed(cfg.seed)
        gan = GAN(cfg)
        it = iter(make_dataset(data, global_batch_size=cfg.batch_size, output_range=cfg.output_range, seed=0))
        fn = make_train_fn(gan, tf.distribute.get_strategy(), jit_compile=False, guard=guard)
        for _ in range(2):
            fn(it, tf.constant(2))
        weights.append([w.numpy() for w in gan.weights])
    assert all(np.array_equal(a, b) for a, b in zip(*weights, strict=True))
