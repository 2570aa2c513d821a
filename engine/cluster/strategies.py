"""tf.distribute strategies by name, and whether XLA can compile the step under them."""

import contextlib
import os
import sys

import tensorflow as tf

from engine.cluster.tf_config import local_task_count, parse_tf_config, wait_for_cluster
from engine.errors import UserError
from engine.registry import Registry


def _logical_cpus(n: int) -> list[str]:
    """Splits the physical CPU into `n` logical devices (only possible before TensorFlow initialises)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
        if n > 1:
            # Give each replica its own cores rather than letting all replicas share one intra-op pool: measured
            # 321 vs 224 img/s for dcgan_fashion at batch 128 on 2 cores (README, "Speed"). One replica keeps
            # TensorFlow's own pools, as the default strategy does (an inter-op pool of 1 measured 0.88x of it).
            tf.config.threading.set_intra_op_parallelism_threads(max(1, (os.cpu_count() or 1) // n))
            tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:
        pass  # Already initialised: use what exists, checked below.
    have = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(have) < n:
        raise UserError(
            f"mirrored over {n} logical CPU replicas: TensorFlow in this process started with {len(have)} logical "
            "CPU device(s), fixed until the process ends; ask for at most that many (--cpu-replicas, cpu_replicas=), "
            f"or restart the Python process (in Jupyter: the kernel) and make its first run the one over {n}"
        )
    return have[:n]


# Measured on 2 cores (docs/benchmarks.md, "--cpu-replicas auto"), dcgan_fashion's step mirrored over 2 logical CPUs
# against one replica: 0.72-0.75x at batch 32 (16 images each); at batch 64 1.04x idle but 0.80x with other jobs on
# the machine; 1.03-1.16x idle at 128-256. 64 images each keeps the gains and avoids the losses.
MIN_REPLICA_BATCH = 64


def auto_cpu_replicas(cores: int, batch_size: int) -> tuple[int, str]:
    """`--cpu-replicas auto`: how many logical CPU replicas `mirrored` uses on a machine without GPUs, and why.

    The most replicas, at most one per core, that split the batch evenly with at least MIN_REPLICA_BATCH images each:
    below that a replica's ops are too small to pay for the second replica's copies and all-reduces.

    Args:
      cores: the CPU cores this process may use.
      batch_size: the global batch.
    Returns:
      (replicas, a short reason for the start line).
    """
    fits = [n for n in range(1, max(1, cores) + 1) if batch_size % n == 0 and batch_size // n >= MIN_REPLICA_BATCH]
    n = max(fits, default=1)
    return n, (
        f"auto: {cores} core(s), batch {batch_size}: the most replicas (<= 1 per core) with >= {MIN_REPLICA_BATCH} "
        "images each"
    )


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _multi_worker_strategy() -> tf.distribute.Strategy:
    conf = parse_tf_config()
    # Tasks sharing a host (the local launcher) share its cores: each gets an intra-op pool of cores / tasks rather
    # than a pool as wide as the machine, so N workers do not oversubscribe it N times.
    local = local_task_count(conf)
    if local > 1:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(max(1, (os.cpu_count() or 1) // local))
        except RuntimeError:
            pass  # TensorFlow already started (tests): keep its pools
    wait_for_cluster(conf)  # bounded and interruptible, unlike TensorFlow's own wait inside the constructor
    return tf.distribute.MultiWorkerMirroredStrategy()


@contextlib.contextmanager
def peer_failures_as_errors(strategy_name: str):
    """Under multi_worker, turns "another worker stopped" (TensorFlow aborts the collectives once a peer misses its
    heartbeats) into one line; other strategies' errors pass through untouched."""
    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.DeadlineExceededError) as e:
        if strategy_name != "multi_worker":
            raise
        lines = [line.strip() for line in str(e.message).splitlines() if line.strip()]
        detail = next((line for line in lines if "/job:" in line), lines[0] if lines else type(e).__name__)
        raise UserError(
            f"the cluster lost a worker ({detail[:200]}); the chief's last checkpoint is intact: "
            "restart every worker with --resume"
        ) from None


def any_worker(strategy: tf.distribute.Strategy, flag: bool) -> bool:
    """Whether `flag` is set on any worker of the cluster: an all-reduce (SUM), so every worker gets the same answer.

    Every worker must call it at the same point of its loop (it is a collective, like the step). Traced once per
    strategy: `strategy.run` called eagerly logs TensorFlow's "Using ... eagerly has significant overhead" warning.
    """
    if strategy not in _FLAG_SUMS:

        @tf.function
        def flag_sum(x):
            value = strategy.run(tf.identity, args=(x,))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)

        _FLAG_SUMS[strategy] = flag_sum
    return bool(_FLAG_SUMS[strategy](tf.constant(1.0 if flag else 0.0)).numpy() > 0)


_FLAG_SUMS: dict = {}  # strategy -> its traced flag sum (strategies live as long as the process: make_strategy)


_MADE: dict[tuple[str, int], tf.distribute.Strategy] = {}


def started_cpu_devices() -> int | None:
    """How many logical CPU devices this process's TensorFlow has, once a strategy was made here (TensorFlow has
    started by then, or starts with that run's first step: the split cannot change any more); None before."""
    if not _MADE:
        return None
    return len(tf.config.list_logical_devices("CPU"))


def make_strategy(name: str, cpu_replicas: int = 2) -> tf.distribute.Strategy:
    """Creates strategy `name`. Call before any other TensorFlow work (logical CPU devices are fixed at start).

    `mirrored` mirrors over all GPUs, or, on a machine without GPUs, over `cpu_replicas` logical CPU devices so
    the same code path runs everywhere. A process gets one strategy per (name, cpu_replicas): two MirroredStrategy
    objects in one process hand out clashing collective-op keys ("Shape mismatch in the collective instance").
    """
    if (name, cpu_replicas) not in _MADE:
        _MADE[(name, cpu_replicas)] = _make_strategy(name, cpu_replicas)
    return _MADE[(name, cpu_replicas)]


# Builders by name, each `(cpu_replicas) -> Strategy`; their names are engine.config.STRATEGIES (a test checks).
STRATEGY_BUILDERS = Registry("strategy")


@STRATEGY_BUILDERS.register("default")
def _default(cpu_replicas: int) -> tf.distribute.Strategy:
    return tf.distribute.get_strategy()


@STRATEGY_BUILDERS.register("one_device")
def _one_device(cpu_replicas: int) -> tf.distribute.Strategy:
    return tf.distribute.OneDeviceStrategy("/gpu:0" if tf.config.list_physical_devices("GPU") else "/cpu:0")


@STRATEGY_BUILDERS.register("mirrored")
def _mirrored(cpu_replicas: int) -> tf.distribute.Strategy:
    if tf.config.list_physical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MirroredStrategy(_logical_cpus(cpu_replicas))


@STRATEGY_BUILDERS.register("multi_worker")
def _multi_worker(cpu_replicas: int) -> tf.distribute.Strategy:
    return _multi_worker_strategy()


def _make_strategy(name: str, cpu_replicas: int) -> tf.distribute.Strategy:
    return STRATEGY_BUILDERS.get_or_fail(name)(cpu_replicas)


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
        return (
            f"XLA cannot compile a step mirrored over {len(devices)} logical CPU devices "
            "(each replica's variables live on another device)"
        )
    return None


def resolve_jit(opts, strategy) -> bool:
    """`opts.jit_compile`, unless XLA cannot run under this strategy: then say why, once, and run without it.
    "auto": on where the strategy runs on GPUs (and XLA can run there), off on CPUs, where it measured slower."""
    reason = jit_unsupported_reason(strategy)
    if opts.jit_compile == "auto":
        import tensorflow as tf

        return not reason and bool(tf.config.list_logical_devices("GPU"))
    if opts.jit_compile and reason:
        print(f"note: --jit ignored: {reason}; running the step without XLA", file=sys.stderr)
        return False
    return opts.jit_compile
