"""TF_CONFIG, TensorFlow's standard multi-worker cluster description: checked, who the chief is, and waiting for
the cluster to start.

No TensorFlow import, so the CLI checks TF_CONFIG in a second, before TensorFlow starts.
"""

import json
import os
import signal
import socket
import sys
import threading
import time

from engine.errors import Stopped, UserError

MULTI_WORKER_TASK_TYPES = ("chief", "worker")  # what MultiWorkerMirroredStrategy runs (no ps / evaluator)
WAIT_ENV = "GAN_CLUSTER_WAIT_S"  # how long a task waits for the rest of the cluster to start
DEFAULT_WAIT_S = 300.0
SAY_WAITING_AFTER_S = 10.0  # a wait longer than this is said on stderr, naming who is awaited
_HELLO, _READY, _GO = b"gan-engine cluster: are you there?\n", b"here\n", b"go\n"


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
    except RecursionError:
        raise UserError("TF_CONFIG is not valid JSON (nested too deeply)") from None
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
        # An empty job (`"chief": []`) crashes TensorFlow's server with a segmentation fault: refused here.
        if not isinstance(members, list) or not members or not all(_is_address(m) for m in members):
            raise UserError(
                f'TF_CONFIG cluster job {job!r} must be a non-empty list of "host:port" strings (port 1 to 65535 '
                f"in ASCII digits), got {_short(members)}"
            )
    if len(cluster.get("chief", [])) > 1:
        raise UserError(f"TF_CONFIG cluster has {len(cluster['chief'])} chiefs; at most one")
    addresses = [a for members in cluster.values() for a in members]
    twice = sorted({a for a in addresses if addresses.count(a) > 1})
    if twice:
        raise UserError(f"TF_CONFIG cluster lists {', '.join(twice)} more than once; give each task its own port")
    kind, index = task.get("type"), task.get("index")
    # type(...) is int: JSON's true/false are Python bools, which are ints.
    named = isinstance(kind, str) and kind in cluster and type(index) is int and 0 <= index < len(cluster[kind])
    if not named:
        raise UserError(
            f"TF_CONFIG task {_short(task)} does not name a member of cluster {_short(cluster)}; "
            'give "type" one of its jobs and "index" a position in that job'
        )
    return conf


def _short(value, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _is_address(text) -> bool:
    """Whether `text` is "host:port" as TensorFlow's server takes it: an ASCII host without spaces, and a port of
    ASCII digits (str.isdigit also accepts other scripts' digits, e.g. "٣٣", which TensorFlow rejects)."""
    host, _, port = text.rpartition(":") if isinstance(text, str) else ("", "", "")
    return (
        bool(host)
        and host.isascii()
        and host.isprintable()
        and not any(c.isspace() for c in host)
        and port.isascii()
        and port.isdigit()
        and len(port) <= 5
        and 0 < int(port) < 65536
    )


def is_chief(conf: dict) -> bool:
    """TensorFlow's rule: the "chief" task, or worker 0 when the cluster has no chief. Only it writes the run."""
    return (conf["task"]["type"], conf["task"]["index"]) == _leader(conf)


def _leader(conf: dict) -> tuple[str, int]:
    """The chief: TensorFlow's coordination-service leader, which waits for every other task to connect."""
    return ("chief", 0) if conf["cluster"].get("chief") else ("worker", 0)


def local_task_count(conf: dict) -> int:
    """How many tasks of the cluster run on this task's host (as written in TF_CONFIG), counting this one."""
    hosts = [address.rpartition(":")[0] for members in conf["cluster"].values() for address in members]
    mine = conf["cluster"][conf["task"]["type"]][conf["task"]["index"]].rpartition(":")[0]
    return max(1, hosts.count(mine))


def _name(kind: str, index: int, conf: dict) -> str:
    return f"{kind} {index} ({conf['cluster'][kind][index]})"


def wait_timeout() -> float:
    """Seconds a task waits for the rest of its cluster: $GAN_CLUSTER_WAIT_S, else DEFAULT_WAIT_S."""
    text = os.environ.get(WAIT_ENV)
    if text is None:
        return DEFAULT_WAIT_S
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise UserError(f"{WAIT_ENV}={text!r}: expected a number of seconds > 0")
    return value


def wait_for_cluster(conf: dict, timeout: float | None = None) -> None:
    """Waits, in Python, until every task of the cluster has started, before TensorFlow starts its server.

    TensorFlow's own wait for the cluster blocks inside C++ with no limit, holding the interpreter, so a worker that
    never starts would hang the rest silently and deaf to Ctrl-C and SIGTERM. Here the chief connects to each other
    task's port, where that task listens (in Python); once every task answered, the chief says start, and all of
    them start TensorFlow, whose servers then find each other at once. SIGTERM and SIGINT end the wait (exit 143 /
    130), nothing written.

    Raises:
      UserError: a task did not start within `timeout` seconds (default `wait_timeout()`), naming it; or this task's
        port is taken.
      Stopped: a signal arrived while waiting.
    """
    timeout = wait_timeout() if timeout is None else timeout
    me = (conf["task"]["type"], conf["task"]["index"])
    leader = _leader(conf)
    tasks = [(kind, i) for kind in MULTI_WORKER_TASK_TYPES for i in range(len(conf["cluster"].get(kind, [])))]
    if len(tasks) == 1:
        return
    with _signals_stop_the_wait():
        if me == leader:
            _call_every_task(conf, [t for t in tasks if t != leader], timeout)
        else:
            _listen_for_the_chief(conf, me, leader, timeout)


class _signals_stop_the_wait:
    """While inside (main thread only), SIGTERM and SIGINT raise Stopped: nothing is written yet, so stop now."""

    def __enter__(self):
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGTERM, signal.SIGINT):
                self._previous[s] = signal.signal(s, self._stop)
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    @staticmethod
    def _stop(signum, frame):
        raise Stopped(
            f"{signal.Signals(signum).name} while waiting for the cluster to start: stopped (nothing was written)",
            128 + signum,
        )


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _call_every_task(conf: dict, tasks: list, timeout: float) -> None:
    """The chief: connect to each task's port until all of them answer, then tell them all to start (none starts
    TensorFlow, whose wait cannot be interrupted, before every task is there)."""
    start, said, held = time.monotonic(), False, {}
    try:
        while True:
            for task in tasks:
                if task in held and _closed(held[task]):
                    held.pop(task).close()  # that task stopped: wait for it again
                if task not in held:
                    conn = _call(conf["cluster"][task[0]][task[1]])
                    if conn is not None:
                        held[task] = conn
            waiting = [t for t in tasks if t not in held]
            if not waiting:
                for conn in held.values():
                    conn.sendall(_GO)
                return
            elapsed = time.monotonic() - start
            names = ", ".join(_name(kind, i, conf) for kind, i in waiting)
            if elapsed >= timeout:
                many = len(waiting) > 1
                raise UserError(
                    f"{names} did not start within {timeout:g} s (this is the chief, waiting for every task of "
                    f"TF_CONFIG's cluster); start {'them' if many else 'it'} with the same cluster and "
                    f"{'their' if many else 'its'} own task, or raise {WAIT_ENV}; nothing was written"
                )
            if not said and elapsed >= SAY_WAITING_AFTER_S:
                print(f"waiting for {names} to start (up to {timeout:g} s)", file=sys.stderr, flush=True)
                said = True
            time.sleep(0.25)
    finally:
        for conn in held.values():
            conn.close()


def _call(address: str) -> socket.socket | None:
    """A connection to the task at `address` once it answered as a waiting task of this engine, else None."""
    try:
        conn = socket.create_connection(_split(address), timeout=1.0)
    except OSError:
        return None  # not listening yet
    try:
        conn.settimeout(5.0)
        conn.sendall(_HELLO)
        if _read(conn, len(_READY)) == _READY:
            return conn
    except OSError:
        pass
    conn.close()  # not answering as a task of this engine
    return None


def _read(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n and (chunk := conn.recv(n - len(data))):
        data += chunk
    return data


def _closed(conn: socket.socket) -> bool:
    """Whether the other end closed `conn` (it sends nothing until told, so any readable byte means closed)."""
    try:
        conn.setblocking(False)
        return conn.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        conn.settimeout(5.0)


def _listen_for_the_chief(conf: dict, me: tuple[str, int], leader: tuple[str, int], timeout: float) -> None:
    """A non-chief task: listen on its own port until the chief, having heard from every task, says start."""
    host, port = _split(conf["cluster"][me[0]][me[1]])
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        try:
            listener.bind(("", port))
        except OSError as e:
            raise UserError(
                f"this task's port {port} ({_name(*me, conf)} in TF_CONFIG) cannot be used ({e.strerror}); "
                "give it a free port"
            ) from None
        listener.listen(8)
        listener.settimeout(0.25)
        start, said, called = time.monotonic(), False, False
        while True:
            answer = _answer(listener)
            if answer == "start":
                return
            called = called or answer == "left"
            elapsed = time.monotonic() - start
            chief = _name(*leader, conf)
            if elapsed >= timeout:
                why = (
                    "called this task but gave up waiting for the others (its message names them)"
                    if called
                    else f"did not call this task ({_name(*me, conf)}) within {timeout:g} s"
                )
                raise UserError(
                    f"the chief, {chief}, {why}; start every task with the same cluster, or raise {WAIT_ENV}; "
                    "nothing was written"
                )
            if not said and elapsed >= SAY_WAITING_AFTER_S:
                print(f"waiting for the chief, {chief}, to start", file=sys.stderr, flush=True)
                said = True
    finally:
        listener.close()


def _answer(listener: socket.socket) -> str | None:
    """Takes one connection, if one comes, and holds it until the chief says start ("start") or goes ("left");
    None when no chief called."""
    try:
        conn, _ = listener.accept()
    except TimeoutError:
        return None
    with conn:
        try:
            conn.settimeout(5.0)
            if _read(conn, len(_HELLO)) != _HELLO:
                return None
            conn.sendall(_READY)
            conn.settimeout(0.25)  # short reads, so a signal is handled at once
            while True:
                try:
                    word = conn.recv(len(_GO))
                except TimeoutError:
                    continue
                if word != _GO:
                    return "left"
                try:
                    conn.settimeout(2.0)
                    conn.recv(1)  # the chief closes first: no connection lingers on this port for TensorFlow
                except OSError:
                    pass
                return "start"
        except OSError:
            return None
