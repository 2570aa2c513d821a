"""Property-based tests (Hypothesis) of the command-line contract over what users type and what lies on disk.

For any input: either it is accepted, or it is refused with a UserError (the CLIs print it as one `error:` line and
exit 2; argparse's own refusals exit 2 too); never another exception (a traceback); nothing written outside the
place asked for; nothing that existed changed. All in-process and without TensorFlow work, so a few hundred
examples take seconds.
"""

import contextlib
import dataclasses
import io
import json
import os
import shlex
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine import launch, train
from engine.cluster import tf_config as cluster
from engine.config import Config, apply_overrides
from engine.errors import UserError, printable
from engine.evaluate import check_sample_memory, image_shape
from engine.presets import get_preset
from engine.run import directory as rundir
from engine.run import reading as runread
from engine.run.logs import trim_log
from tests.treesnap import assert_unchanged, snapshot

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- TF_CONFIG ----

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
ports = st.one_of(
    st.integers(-5, 70000).map(str),
    st.sampled_from(["٣٣", "１２", "0x1f", "", " 80", "2222 ", "99999999999999999999"]),
)
hosts = st.sampled_from(["127.0.0.1", "localhost", "[::1]", "", "h o", "héte", "host\n"])
addresses = st.one_of(st.builds(lambda h, p: f"{h}:{p}", hosts, ports), st.text(max_size=12), st.integers())
near_valid = st.fixed_dictionaries(
    {
        "cluster": st.dictionaries(
            st.sampled_from(["chief", "worker", "ps", "evaluator"]),
            st.one_of(st.lists(addresses, max_size=3), addresses, st.none()),
            max_size=3,
        ),
        "task": st.fixed_dictionaries(
            {
                "type": st.one_of(st.sampled_from(["chief", "worker", "ps"]), st.lists(st.text(max_size=3)), st.none()),
                "index": st.one_of(st.integers(-2, 4), st.booleans(), st.floats(), st.text(max_size=2)),
            }
        ),
    }
)


@FAST
@given(st.one_of(near_valid, json_values))
def test_any_tf_config_is_accepted_whole_or_refused_in_one_line(conf):
    text = json.dumps(conf)
    with _environ(TF_CONFIG=text):
        try:
            parsed = cluster.parse_tf_config()
        except UserError as e:
            assert "\n" not in str(e)
            return
    # Accepted: everything the engine and TensorFlow then read of it is there and well-formed.
    members = [a for job in parsed["cluster"].values() for a in job]
    assert members and len(set(members)) == len(members)
    assert all(cluster._is_address(a) for a in members)
    assert isinstance(cluster.is_chief(parsed), bool) and cluster.local_task_count(parsed) >= 1


@FAST
@given(st.text(max_size=30).filter(lambda t: "\0" not in t))  # (an environment variable cannot hold NUL)
def test_any_tf_config_text_is_accepted_or_refused_in_one_line(text):
    with _environ(TF_CONFIG=text):
        try:
            cluster.parse_tf_config()
        except UserError:
            pass


# ---- engine.train's command line, up to the point where work starts ----

train_flags = st.one_of(
    st.tuples(
        st.sampled_from(
            [
                "--steps",
                "--epochs",
                "--batch-size",
                "--seed",
                "--cpu-replicas",
                "--steps-per-loop",
                "--checkpoint-every-seconds",
                "--max-consecutive-skips",
                "--eval-every",
                "--eval-samples",
                "--time-limit",
                "--eval-at-minutes",
                "--strategy",
                "--precision",
                "--preset",
                "--dataset",
                "--set",
            ]
        ),
        st.one_of(
            st.integers(-(2**40), 2**40).map(str),
            st.sampled_from(["nan", "inf", "-0", "1e309", "1,2", ",", "mirrored", "dcgan_fashion", "x=1", "=", ""]),
            st.text(max_size=8),
        ),
    ).map(list),
    st.sampled_from([["--resume"], ["--dry-run"], ["--jit"], ["--no-jit"], ["--deterministic"], ["--verbose"]]),
)


@FAST
@given(st.lists(train_flags, max_size=5).map(lambda groups: [a for g in groups for a in g]))
def test_any_train_command_line_is_accepted_or_refused_before_work_starts(argv):
    with _nothing_written():
        try:
            args = _parse(train.parse_args, argv)
            if args is None:
                return
            train.build_config(args)  # (a folder of images is never implied: no --data-dir)
            train.run_options(args)
        except UserError as e:
            assert "\n" not in str(e)


keys = st.one_of(st.sampled_from([f.name for f in dataclasses.fields(Config)]), st.text(max_size=10))
values = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats().map(repr),
    st.sampled_from(["true", "false", "none", "nan", "-inf", "28x28x1", "0x0x0", "1e-4", "", " ", "adam", "tanh"]),
    st.text(max_size=12),
)


@FAST
@given(
    st.lists(st.builds(lambda k, v, sep: f"{k}{sep}{v}", keys, values, st.sampled_from(["=", "", "=="])), max_size=4)
)
def test_any_set_override_gives_a_valid_config_or_one_line(pairs):
    base = get_preset("dcgan_fashion")
    try:
        cfg = apply_overrides(base, pairs)
    except UserError as e:
        assert "\n" not in str(e)
        return
    assert isinstance(cfg, Config)


@FAST
@given(st.lists(st.sampled_from(["--workers", "--log-dir", "--", "2", "0", "-1", "100000", "x", "--steps", "1"])))
def test_any_launch_command_line_is_accepted_or_refused_and_writes_nothing(argv):
    with _nothing_written():
        try:
            parsed = _parse(launch.parse_args, argv)
        except UserError as e:
            assert "\n" not in str(e)
            return
        if parsed is not None:
            args, _ = parsed
            assert 1 <= args.workers <= launch.max_workers()


@FAST
@given(st.text(max_size=16))
def test_any_image_shape_flag_is_a_valid_shape_or_one_line(text):
    try:
        shape = image_shape(text)
    except UserError as e:
        assert "\n" not in str(e)
        return
    assert len(shape) == 3 and min(shape) >= 1 and shape[2] in (1, 3, 4)


@FAST
@given(st.integers(2, 10**12), st.integers(1, 256), st.integers(1, 4096), st.integers(2**20, 2**40))
def test_a_sample_count_is_refused_with_the_largest_that_fits(n, side, latent, memory):
    cfg = Config(preset="p", model="m", image_shape=(side, side, 1), latent_dim=latent)
    try:
        check_sample_memory(n, cfg, "--num-samples", memory=memory)
        return
    except UserError as e:
        assert "\n" not in str(e)
        most = int(str(e).split("use at most ")[1].split(" ")[0].replace(",", ""))
    assert most < n
    if most >= 1:
        check_sample_memory(most, cfg, "--num-samples", memory=memory)  # the largest named fits
    with pytest.raises(UserError):
        check_sample_memory(most + 1, cfg, "--num-samples", memory=memory)


# ---- what lies on disk when a run is resumed ----


@FAST
@given(st.binary(max_size=300), st.integers(0, 10))
def test_any_metrics_log_is_trimmed_to_whole_records_at_or_before_the_step(content, step):
    with tempfile.TemporaryDirectory() as d:
        log = Path(d) / "metrics.jsonl"
        good = b"".join(json.dumps({"step": s}).encode() + b"\n" for s in range(1, 6))
        log.write_bytes(good + content)
        trim_log(log, step)
        kept = log.read_bytes()
        for line in kept.splitlines():
            assert json.loads(line)["step"] <= step
        assert kept.endswith(b"\n") or kept == b""
        assert [json.loads(x)["step"] for x in good.splitlines() if json.loads(x)["step"] <= step] == [
            json.loads(x)["step"] for x in kept.splitlines()
        ][: min(step, 5)]
        trim_log(log, step)
        assert log.read_bytes() == kept  # a second trim changes nothing


@FAST
@given(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())))
def test_any_damaged_config_of_a_run_is_refused_in_one_line(content):
    with tempfile.TemporaryDirectory() as d:
        run = Path(d)
        (run / "checkpoints").mkdir()
        (run / "config.json").write_bytes(content)
        (run / "checkpoints" / "trained_config.json").write_bytes(content)
        before = snapshot(run)
        with pytest.raises(UserError) as refused:
            runread.read_run(run)
        assert "\n" not in str(refused.value)
        with contextlib.suppress(UserError):
            rundir.check_config_unchanged(run, get_preset("dcgan_fashion"))
        assert_unchanged(before, snapshot(run))


# ---- a new run's directory: nothing made before `open`, nothing left when it fails ----

names = st.one_of(
    st.binary(min_size=1, max_size=12).map(os.fsdecode),
    st.text(min_size=1, max_size=12),
    st.sampled_from(["a b", "it's", "new/deeper/run", "-x", "run\\", "ünï"]),
)


@FAST
@given(names, st.booleans(), st.booleans())
def test_a_new_run_directory_is_made_only_on_open_and_removed_when_the_run_fails(name, exists, default_place):
    assume("\0" not in name and not name.startswith("/") and name.strip("/") not in ("", ".", ".."))
    assume(".." not in name.split("/"))
    with tempfile.TemporaryDirectory() as d:
        base = Path(d)
        (base / "other").mkdir()
        (base / "other" / "mine.txt").write_text("mine")
        out = None if default_place else os.path.join(d, name)
        if exists and out is not None:
            with contextlib.suppress(OSError, ValueError):
                os.makedirs(out, exist_ok=True)
        before = snapshot(base)
        try:
            run = rundir.prepare(out, "p", resume=False, runs_root=base / "runs")
        except UserError as e:
            assert "\n" not in str(e)
            assert_unchanged(before, snapshot(base))
            return
        assert_unchanged(before, snapshot(base))  # nothing before open
        with pytest.raises(RuntimeError), run:
            path = run.open()
            assert path.is_dir() and rundir.printable_path(path)
            (path / "config.json").write_text("{}")
            raise RuntimeError("the run failed before its first checkpoint")
        assert_unchanged(before, snapshot(base))  # so nothing of it is left, and runs/latest did not move


# ---- what the messages print ----


@FAST
@given(st.text(max_size=30) | st.binary(max_size=30).map(os.fsdecode))
def test_any_message_prints_on_a_strict_utf8_console(text):
    line = printable(text)
    line.encode("utf-8")
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    print(line, file=out)


@FAST
@given(st.text(min_size=1, max_size=20).filter(lambda t: "\0" not in t))
def test_the_printed_next_commands_give_back_the_run_path_when_pasted(path):
    assume(rundir.printable_path(path) == path)  # others are written in bash's $'...' form, which shlex cannot read
    lines = train.next_steps(path).split("\n")[1:]
    assert shlex.split(lines[0])[4] == path
    assert shlex.split(lines[2])[4] == path
    assert shlex.split(lines[3])[2] == f"{path}/tensorboard"


# ---- helpers ----


@contextlib.contextmanager
def _environ(**values):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _nothing_written():
    """Runs the block in a fresh working directory and checks it wrote nothing there."""
    with tempfile.TemporaryDirectory() as d:
        cwd = os.getcwd()
        os.chdir(d)
        try:
            before = snapshot(d)
            yield
            assert_unchanged(before, snapshot(d))
        finally:
            os.chdir(cwd)


def _parse(parse, argv):
    """`parse(argv)`, or None when argparse refused it (exit status 2, its message on stderr)."""
    with contextlib.redirect_stderr(io.StringIO()) as err:
        try:
            return parse(argv)
        except SystemExit as e:
            assert e.code == 2 and "error:" in err.getvalue().splitlines()[-1], err.getvalue()
            return None
