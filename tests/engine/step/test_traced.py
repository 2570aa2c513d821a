"""The traced step under each strategy: finite losses that change, weights that move, one step counter."""

import numpy as np
import pytest
import tensorflow as tf

from engine.cluster.strategies import make_strategy
from engine.data.mnist import load_fashion_mnist
from engine.data.pipeline import distribute, make_dataset
from engine.step.gan import GAN
from engine.step.traced import make_train_fn


def run_steps(tiny_config, strategy, data_dir, calls=3, n=2, jit=False, **changes):
    cfg = tiny_config(**changes)
    with strategy.scope():
        gan = GAN(cfg)
    before = [w.copy() for w in gan.generator.get_weights()]
    data = load_fashion_mnist("train", str(data_dir))
    it = iter(
        distribute(
            make_dataset(data, global_batch_size=cfg.batch_size, output_range=cfg.output_range, seed=0), strategy
        )
    )
    fn = make_train_fn(gan, strategy, jit_compile=jit)
    history = [{k: float(v) for k, v in fn(it, tf.constant(n)).items()} for _ in range(calls)]
    moved = any(not np.allclose(a, b) for a, b in zip(before, gan.generator.get_weights(), strict=False))
    return gan, history, moved


# mirrored: every preset trains under it in the default run (tests/engine/step/test_gan.py)
@pytest.mark.parametrize(
    "strategy_name, jit",
    [("default", False), ("default", True), pytest.param("mirrored", False, marks=pytest.mark.slow)],
)
def test_steps_give_finite_changing_losses(tiny_config, strategy_name, jit, data_dir):
    strategy = make_strategy(strategy_name, 2)
    gan, history, moved = run_steps(tiny_config, strategy, data_dir, jit=jit)
    assert strategy.num_replicas_in_sync == (2 if strategy_name == "mirrored" else 1)
    assert int(gan.step_counter.numpy()) == 6  # 3 calls x 2 device-side steps, counted once per global step
    assert all(np.isfinite(v) for h in history for v in h.values())
    assert history[0]["d_loss"] != history[-1]["d_loss"] and history[0]["g_loss"] != history[-1]["g_loss"]
    assert moved


def test_alternating_update_order_trains(tiny_config, data_dir):
    gan, history, moved = run_steps(tiny_config, tf.distribute.get_strategy(), data_dir, update_order="alternating")
    assert moved and all(np.isfinite(v) for h in history for v in h.values())


def test_the_step_is_traced_once_and_runs_n_times_per_call(tiny_config, data_dir, monkeypatch):
    from engine.step import traced

    traces = []
    real = traced.distributed_step
    monkeypatch.setattr(traced, "distributed_step", lambda *a: traces.append(1) or real(*a))
    gan, history, _ = run_steps(tiny_config, tf.distribute.get_strategy(), data_dir, calls=2, n=3)
    assert len(traces) == 1  # the first step and the loop's body share one trace (it was two)
    assert int(gan.step_counter.numpy()) == 6 and [h["steps"] for h in history] == [3, 3]
