"""TF_CONFIG, TensorFlow's standard multi-worker cluster description: checked, and who the chief is.

No TensorFlow import, so the CLI checks TF_CONFIG in a second, before TensorFlow starts.
"""

import json
import os

from engine.errors import UserError

MULTI_WORKER_TASK_TYPES = ("chief", "worker")  # what MultiWorkerMirroredStrategy runs (no ps / evaluator)


def parse_tf_config() -> dict:
    """Reads and checks $TF_CONFIG (TensorFlow's standard format); raises UserError naming what is wrong.

    Returns:
      {"cluster": {"worker": ["host:port", ...], optionally "chief": ["host:port"]}, "task": {"type", "index"}}
    """
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise UserError(
            "--strategy multi_worker needs TF_CONFIG, e.g. "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
        )
    try:
        conf = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"TF_CONFIG is not valid JSON ({e.msg} at char {e.pos})") from None
    cluster, task = (
        conf.get("cluster") if isinstance(conf, dict) else None,
        conf.get("task") if isinstance(conf, dict) else None,
    )
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise UserError('TF_CONFIG needs "cluster" and "task" objects')
    others = sorted(set(cluster) - set(MULTI_WORKER_TASK_TYPES))
    if others:
        raise UserError(
            f"TF_CONFIG cluster has job(s) {', '.join(others)}; multi_worker runs only "
            f"{' and '.join(MULTI_WORKER_TASK_TYPES)} jobs"
        )
    for job, members in cluster.items():
        if not isinstance(members, list) or not all(_is_address(m) for m in members):
            raise UserError(f'TF_CONFIG cluster job {job!r} must be a list of "host:port" strings, got {members!r}')
    if len(cluster.get("chief", [])) > 1:
        raise UserError(f"TF_CONFIG cluster has {len(cluster['chief'])} chiefs; at most one")
    members = cluster.get(task.get("type"), None)
    if not isinstance(members, list) or not isinstance(task.get("index"), int) or not 0 <= task["index"] < len(members):
        raise UserError(f"TF_CONFIG task {task} does not name a member of cluster {cluster}")
    return conf


def _is_address(text) -> bool:
    host, _, port = text.rpartition(":") if isinstance(text, str) else ("", "", "")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


def is_chief(conf: dict) -> bool:
    """TensorFlow's rule: the "chief" task, or worker 0 when the cluster has no chief. Only it writes the run."""
    task = conf["task"]
    if conf["cluster"].get("chief"):
        return task["type"] == "chief"
    return task["type"] == "worker" and task["index"] == 0


def local_task_count(conf: dict) -> int:
    """How many tasks of the cluster run on this task's host (as written in TF_CONFIG), counting this one."""
    hosts = [address.rpartition(":")[0] for members in conf["cluster"].values() for address in members]
    mine = conf["cluster"][conf["task"]["type"]][conf["task"]["index"]].rpartition(":")[0]
    return max(1, hosts.count(mine))
