"""Strategies by name, TF_CONFIG checks, and when XLA is (not) used."""

import json

import pytest
import tensorflow as tf

from engine.cluster.strategies import jit_unsupported_reason, make_strategy, parse_tf_config, resolve_jit
from engine.config import RunOptions
from engine.errors import UserError

GOOD = {"cluster": {"worker": ["localhost:12345", "localhost:12346"]}, "task": {"type": "worker", "index": 1}}


def test_tf_config_is_parsed(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps(GOOD))
    assert parse_tf_config()["task"]["index"] == 1


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "needs TF_CONFIG"),
        ("{not json", "TF_CONFIG is not valid JSON"),
        (json.dumps({"cluster": {}}), 'needs "cluster" and "task"'),
        (json.dumps({**GOOD, "task": {"type": "worker", "index": 2}}), "does not name a member of cluster"),
        (json.dumps({**GOOD, "task": {"type": "chief", "index": 0}}), "does not name a member of cluster"),
    ],
)
def test_malformed_tf_config_is_one_clear_line(monkeypatch, text, message):
    if text is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", text)
    with pytest.raises(UserError, match=message):
        make_strategy("multi_worker")


def test_unknown_strategy_lists_the_valid_ones():
    with pytest.raises(UserError, match="valid: default, mirrored, multi_worker, one_device"):
        make_strategy("tpu")


def test_mirrored_uses_the_logical_cpus():
    strategy = make_strategy("mirrored", 2)
    assert strategy.num_replicas_in_sync == 2


def test_xla_falls_back_only_where_it_cannot_run(capsys):
    mirrored = make_strategy("mirrored", 2)
    assert "logical CPU devices" in jit_unsupported_reason(mirrored)
    assert resolve_jit(RunOptions(jit_compile=True), mirrored) is False
    assert "--jit ignored" in capsys.readouterr().err
    assert jit_unsupported_reason(tf.distribute.get_strategy()) is None
    assert resolve_jit(RunOptions(jit_compile=True), tf.distribute.get_strategy()) is True
    assert resolve_jit(RunOptions(jit_compile=False), tf.distribute.get_strategy()) is False


def test_xla_auto_is_on_with_a_gpu_and_off_on_a_cpu(monkeypatch, capsys):
    default = tf.distribute.get_strategy()
    assert RunOptions().jit_compile == "auto"
    assert resolve_jit(RunOptions(), default) is bool(tf.config.list_logical_devices("GPU"))
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: ["a GPU"] if kind == "GPU" else [])
    assert resolve_jit(RunOptions(), default) is True
    assert resolve_jit(RunOptions(), make_strategy("mirrored", 2)) is False  # where XLA cannot run: off, silently
    assert capsys.readouterr().err == ""
    with pytest.raises(UserError, match="jit_compile='yes'"):
        RunOptions(jit_compile="yes")


def test_every_strategy_name_the_options_accept_has_a_builder():
    from engine.cluster.strategies import STRATEGY_BUILDERS
    from engine.config import STRATEGIES

    assert tuple(STRATEGY_BUILDERS) == STRATEGIES


@pytest.mark.parametrize(
    "cores, batch, replicas",
    [
        (2, 32, 1),  # 16 images each on two: measured 0.72-0.75x one replica (docs/benchmarks.md)
        (2, 64, 1),
        (2, 128, 2),
        (2, 1024, 2),  # never more than one per core
        (1, 256, 1),
        (4, 192, 3),  # 4 would leave 48 each
        (8, 200, 2),  # 3 does not split 200 evenly, 4 leaves 50 each
        (16, 63, 1),
        (0, 128, 1),  # an unknown core count still gives one replica
    ],
)
def test_auto_cpu_replicas_follows_its_rule(cores, batch, replicas):
    from engine.cluster.strategies import MIN_REPLICA_BATCH, auto_cpu_replicas

    n, why = auto_cpu_replicas(cores, batch)
    assert n == replicas and batch % n == 0 and (n == 1 or batch // n >= MIN_REPLICA_BATCH)
    assert auto_cpu_replicas(cores, batch) == (n, why) and f"batch {batch}" in why  # a pure function of its inputs


def test_run_options_accept_auto_replicas_and_still_check_numbers():
    assert RunOptions(cpu_replicas="auto").cpu_replicas == "auto"
    with pytest.raises(UserError, match="cpu_replicas=0"):
        RunOptions(cpu_replicas=0)
