"""tf.distribute strategies by name, and whether XLA can compile the step under them."""

import json
import os
import sys

import tensorflow as tf

from engine.errors import UserError

from engine.config import STRATEGIES


def _logical_cpus(n: int) -> list[str]:
    """Splits the physical CPU into `n` logical devices (only possible before TensorFlow initialises)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
        # Give each replica its own cores rather than letting all replicas share one intra-op pool: measured
        # 321 vs 224 img/s for dcgan_fashion at batch 128 on 2 cores (README, "Speed").
        tf.config.threading.set_intra_op_parallelism_threads(max(1, (os.cpu_count() or 1) // n))
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:
        pass  # Already initialised: use what exists, checked below.
    have = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(have) < n:
        raise UserError(f"mirrored on CPU needs {n} logical CPU devices but TensorFlow was initialised with "
                        f"{len(have)}; create the strategy before any other TensorFlow work")
    return have[:n]


def parse_tf_config() -> dict:
    """Reads and checks $TF_CONFIG; raises UserError naming what is wrong."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise UserError("--strategy multi_worker needs TF_CONFIG, e.g. "
                        '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}')
    try:
        conf = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"TF_CONFIG is not valid JSON ({e.msg} at char {e.pos})") from None
    cluster, task = conf.get("cluster") if isinstance(conf, dict) else None, conf.get("task") if isinstance(conf, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise UserError('TF_CONFIG needs "cluster" and "task" objects')
    members = cluster.get(task.get("type"), None)
    if not isinstance(members, list) or not isinstance(task.get("index"), int) or not 0 <= task["index"] < len(members):
        raise UserError(f"TF_CONFIG task {task} does not name a member of cluster {cluster}")
    return conf


_MADE: dict[tuple[str, int], tf.distribute.Strategy] = {}


def make_strategy(name: str, cpu_replicas: int = 2) -> tf.distribute.Strategy:
    """Creates strategy `name`. Call before any other TensorFlow work (logical CPU devices are fixed at start).

    `mirrored` mirrors over all GPUs, or, on a machine without GPUs, over `cpu_replicas` logical CPU devices so
    the same code path runs everywhere. A process gets one strategy per (name, cpu_replicas): two MirroredStrategy
    objects in one process hand out clashing collective-op keys ("Shape mismatch in the collective instance").
    """
    if (name, cpu_replicas) not in _MADE:
        _MADE[(name, cpu_replicas)] = _make_strategy(name, cpu_replicas)
    return _MADE[(name, cpu_replicas)]


def _make_strategy(name: str, cpu_replicas: int) -> tf.distribute.Strategy:
    if name not in STRATEGIES:
        raise UserError(f"unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}")
    gpus = tf.config.list_physical_devices("GPU")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name == "mirrored":
        if gpus:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.MirroredStrategy(_logical_cpus(cpu_replicas))
    parse_tf_config()
    return tf.distribute.MultiWorkerMirroredStrategy()


def jit_unsupported_reason(strategy: tf.distribute.Strategy) -> str | None:
    """Why XLA cannot compile the step under `strategy`, or None if it can.

    XLA cannot reach a variable held on another logical CPU device ("Trying to access resource ... located in
    device CPU:1 from device CPU:0"), so mirrored over several logical CPUs runs the step without XLA.
    """
    try:
        devices = strategy.extended.worker_devices
    except (RuntimeError, AttributeError):  # the default strategy has no device list: one device, fine for XLA
        return None
    if len(devices) > 1 and all("CPU" in d.upper() for d in devices):
        return (f"XLA cannot compile a step mirrored over {len(devices)} logical CPU devices "
                "(each replica's variables live on another device)")
    return None


def resolve_jit(opts, strategy) -> bool:
    """`opts.jit_compile`, unless XLA cannot run under this strategy: then say why, once, and run without it."""
    reason = jit_unsupported_reason(strategy)
    if opts.jit_compile and reason:
        print(f"note: --jit ignored: {reason}; running the step without XLA", file=sys.stderr)
        return False
    return opts.jit_compile
