"""The Python API (engine.api): fit returns a Run whose calls work and agree with the commands; bad arguments raise
the commands' one-line UserErrors; an interrupt saves and returns the Run; what one process cannot change is refused.
The notebook in a real kernel: tests/examples/test_notebook.py."""

import os
import signal
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import engine
from engine.errors import UserError

REPO = Path(__file__).resolve().parents[2]
FAST = dict(preset="dcgan_fashion_fast", batch_size=32)  # dcgan_fashion's networks at batch 32: 8 steps an epoch here


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, data_dir):
    """A run of 2 steps trained through engine.fit, shared by the tests that read it."""
    out = tmp_path_factory.mktemp("api") / "run"
    return engine.fit(data_dir=data_dir, steps=2, out_dir=out, **FAST)


def test_fit_returns_the_run_it_trained(fitted, data_dir):
    assert isinstance(fitted, engine.Run) and fitted.dir.is_absolute() and fitted.step == 2
    assert fitted.config.preset == "dcgan_fashion_fast" and fitted.config.steps == 2
    assert fitted.options.data_dir == str(data_dir)
    assert repr(fitted) == f"Run({str(fitted.dir)!r}: dcgan_fashion_fast, step 2)"
    assert engine.open_run(fitted.dir) == fitted and engine.open_run(str(fitted.dir)).step == 2


def test_metrics_are_a_list_of_dicts_or_a_frame_when_pandas_is_there(fitted, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # not importable
    records = fitted.metrics
    assert isinstance(records, list) and [r["step"] for r in records] == [2]
    assert {"d_loss", "g_loss", "images_per_s"} <= set(records[-1])
    frame = types.SimpleNamespace(DataFrame=types.SimpleNamespace(from_records=lambda rows: ("frame", rows)))
    monkeypatch.setitem(sys.modules, "pandas", frame)
    assert fitted.metrics == ("frame", records)


def test_sample_and_grid(fitted):
    images = fitted.sample(5, seed=1)
    assert images.dtype == np.uint8 and images.shape == (5, 28, 28, 1)
    np.testing.assert_array_equal(images, fitted.sample(5, seed=1))
    assert not np.array_equal(images, fitted.sample(5, seed=2))
    grid = fitted.grid(4, seed=1, scale=2)
    assert grid.mode == "L" and grid.size == (2 * (2 * 30 + 2),) * 2  # 2x2 tiles of 28 with 2 pixels of padding
    assert grid._repr_png_()[:4] == b"\x89PNG"  # Jupyter shows it
    assert fitted.generator is fitted.generator  # loaded once while the checkpoint stays the same


def test_the_latents_are_the_runtimes(fitted):
    from engine.api import latents
    from export.runtime import draw_latents

    for distribution, meta in (("normal", {}), ("uniform", {"latent_range": [0.0, 1.0]})):
        meta = {"latent_dim": 7, "latent_distribution": distribution, **meta}
        a, b = np.random.default_rng(4), np.random.default_rng(4)
        ours = np.concatenate([latents(a, 3, 7, distribution), latents(a, 2, 7, distribution)])
        np.testing.assert_array_equal(ours, draw_latents(meta, b, 5))


def test_export_is_the_command_and_its_file_draws_the_same_images(fitted, capsys):
    from export.runtime import Generator

    path = fitted.export("onnx")
    assert path == fitted.dir / "export" / "generator.onnx" and path.is_file()
    out = capsys.readouterr().out
    assert "exporting ckpt-2" in out and "verified against Keras" in out
    g = Generator.load(path)
    diff = np.abs(g.sample_uint8(6, seed=3).astype(int) - fitted.sample(6, seed=3))
    assert diff.max() <= 1  # the same latents, through ONNX: rounding at most
    with pytest.raises(UserError, match="pass --force"):
        fitted.export("onnx")
    assert fitted.export("onnx", fitted.dir / "other.onnx", fp16=True) == fitted.dir / "other.onnx"


def test_evaluate_is_the_command(fitted, capsys):
    result = fitted.evaluate(num_samples=20)
    assert result["num_samples"] == 20 and result["step"] == 2 and result["generator"]["fid"] > 0
    assert (fitted.dir / "evaluation.json").is_file()
    assert "floor (real train)" in capsys.readouterr().out  # the command's table


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda d: engine.fit(data_dir=d, steps=0), "--steps 0: must be > 0"),
        (lambda d: engine.fit(data_dir=d, steps="many"), "argument --steps: invalid int value: 'many'"),
        (lambda d: engine.fit(data_dir=d, steps=2, epochs=1), "not allowed with argument"),
        (lambda d: engine.fit(data_dir=d, g_lr="fast"), "override g_lr='fast': expected float"),
        (lambda d: engine.fit(data_dir=d, deterministic="yes"), "deterministic='yes': expected True or False"),
        (lambda d: engine.fit(data_dir=d, learning_rate=1), "unexpected keyword 'learning_rate'"),
        (lambda d: engine.fit(data_dir=d, time_limit=1), "--time-limit is minutes= here"),
        (lambda d: engine.fit(data_dir=d, preset="nope"), "unknown preset 'nope'; valid:"),
        (lambda d: engine.fit(data_dir=d, strategy="multi_worker"), "engine.launch"),
        (lambda d: engine.fit(data_dir=d / "missing"), "does not exist"),
        (lambda d: engine.open_run(d / "missing"), "does not exist"),
        (lambda d: engine.open_run(d), "is not a run directory"),
    ],
)
def test_bad_arguments_raise_the_commands_one_line_errors(tmp_path, data_dir, monkeypatch, call, message):
    monkeypatch.chdir(tmp_path)  # a run that started would be under runs/ here
    with pytest.raises(UserError) as e:
        call(data_dir)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert e.value._render_traceback_() == [f"error: {e.value}"]  # what a Jupyter cell shows
    assert not (tmp_path / "runs").exists()


def test_bad_calls_on_a_run_raise_one_line_errors(fitted):
    for call, message in [
        (lambda: fitted.sample(0), "n=0: expected a whole number >= 1"),
        (lambda: fitted.sample(2, labels=[0, 1]), "unconditional"),
        (lambda: fitted.grid(4, checkpoint="ckpt-99"), "has no checkpoint ckpt-99"),
        (lambda: fitted.export("pdf"), "unknown format 'pdf'; valid: onnx, tflite, savedmodel"),
        (lambda: fitted.export("onnx", quantize="int8"), "argument --quantize: invalid choice: 'int8'"),
        (lambda: fitted.export("onnx", colour=True), "unexpected keyword 'colour'"),
        (lambda: fitted.evaluate(num_samples=1), "--num-samples 1: must be >= 2"),
        (lambda: fitted.resume(batch_size=64), "batch_size: run has 32, asked 64"),
    ]:
        with pytest.raises(UserError) as e:
            call()
        assert message in str(e.value), (message, str(e.value))


def test_fit_takes_what_the_command_line_takes():
    """fit's keywords become the command line's namespace, through its own parser: same names, same defaults."""
    from engine.api import _request
    from engine.training import make_parser

    parse = make_parser().parse_args
    assert vars(_request("engine.fit()", {}, {})) == vars(parse([]))
    keywords = {"steps": 7, "image_size": 32, "strategy": "mirrored", "out_dir": Path("/x y")}
    overrides = dict(batch_size=64, jit=False, eval_at_minutes=(2, 5.5), cpu_replicas="auto", g_lr=1e-4)
    overrides.update(image_shape=(32, 32, 3), ema_warmup=True, dropout=None, verbose=True)
    expected = parse(
        ["--steps", "7", "--image-size", "32", "--strategy", "mirrored", "--out-dir", "/x y", "--batch-size", "64"]
        + ["--no-jit", "--eval-at-minutes", "2,5.5", "--cpu-replicas", "auto", "--set", "g_lr=0.0001"]
        + ["--set", "image_shape=32,32,3", "--set", "ema_warmup=true", "--set", "dropout=none", "--verbose"]
    )
    assert vars(_request("engine.fit()", keywords, overrides)) == vars(expected)


class Interrupt:
    """An action that interrupts the loop after its first call: a KeyboardInterrupt raised in Python (as a notebook's
    code may), or a real SIGINT to this process (Jupyter's stop button sends one to the kernel)."""

    def __init__(self, how: str):
        self.how = how

    def due(self, loop, moment) -> bool:
        return moment.step >= 2

    def __call__(self, loop, moment) -> None:
        if self.how == "KeyboardInterrupt":
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("how", ["KeyboardInterrupt", "SIGINT"])
def test_an_interrupt_saves_a_checkpoint_and_fit_returns_the_run(tmp_path, data_dir, monkeypatch, capsys, how):
    from engine.run import loop

    own = loop.default_actions
    monkeypatch.setattr(loop, "default_actions", lambda opts: [*own(opts), Interrupt(how)])
    before = signal.getsignal(signal.SIGINT)  # Python's default_int_handler; SIG_IGN in a pytest-xdist worker
    run = engine.fit(data_dir=data_dir, steps=50, out_dir=tmp_path / "run", steps_per_loop=2, **FAST)
    step = 2 if how == "KeyboardInterrupt" else 4  # a signal is read at the next step boundary, after one more call
    assert run.step == step and (run.dir / "checkpoints" / f"ckpt-{step}.index").is_file()
    assert run.metrics[-1]["stopped"] == "signal"
    assert f"stopped at step {step} of 50: checkpoint saved" in capsys.readouterr().out
    assert signal.getsignal(signal.SIGINT) is before  # the handlers are put back
    if how == "SIGINT":  # ...and it goes on from there, to a shorter end
        monkeypatch.setattr(loop, "default_actions", own)
        assert run.resume(steps=6) == run and run.step == 6
        assert "resumed from" in capsys.readouterr().out


def test_more_logical_cpus_than_this_process_started_with_are_refused(tmp_path, data_dir, monkeypatch):
    """conftest starts TensorFlow with 2 logical CPU devices: a run over 3 cannot happen in this process."""
    import tensorflow as tf

    monkeypatch.chdir(tmp_path)
    assert len(tf.config.list_logical_devices("CPU")) == 2  # TensorFlow has started
    with pytest.raises(UserError) as e:
        engine.fit(data_dir=data_dir, strategy="mirrored", cpu_replicas=3, steps=1, **FAST)
    assert "started with 2 logical CPU device(s)" in str(e.value) and "restart" in str(e.value)
    assert not (tmp_path / "runs").exists()


def test_auto_replicas_keep_to_the_devices_this_process_started_with(monkeypatch, capsys):
    from engine.cluster import strategies
    from engine.config import RunOptions
    from engine.presets import get_preset
    from engine.training import pick_cpu_replicas

    monkeypatch.setattr(strategies, "auto_cpu_replicas", lambda cores, batch: (4, "auto: four"))
    monkeypatch.setattr(strategies, "started_cpu_devices", lambda: 2)
    opts = pick_cpu_replicas(RunOptions(strategy="mirrored", cpu_replicas="auto"), get_preset("dcgan_fashion"))
    assert opts.cpu_replicas == 2
    assert "the 2 logical CPU device(s) TensorFlow started with in this process" in capsys.readouterr().out


def test_import_engine_stays_cheap():
    code = (
        "import sys, engine\n"
        "assert 'engine.api' not in sys.modules and 'numpy' not in sys.modules\n"
        "import engine.train\n"
        "assert 'engine.api' not in sys.modules and 'tensorflow' not in sys.modules\n"
        "fit = engine.fit\n"
        "assert fit.__module__ == 'engine.api' and 'tensorflow' not in sys.modules\n"
        "from engine import Run, open_run\n"
        "assert 'fit' in dir(engine)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]
