"""The bad-input matrix (docs/bad_input.md): each bad input stops with one `error:` line naming the problem and the
fix, exit status 2, no traceback, and nothing lost; an unreadable image among good ones is skipped and counted.

Commands run as a user runs them: in a fresh process where they fail before TensorFlow starts (cheap), else
in this process through the module's own `__main__` (runpy), which takes the same path minus the start-up.
"""

import gzip
import os
import re
import runpy
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
FASHION = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


# ---- inputs, each made in a fresh directory (the shared fixtures are only ever copied) ----


def fashion_copy(tmp: Path, data_dir: Path) -> Path:
    out = tmp / "data"
    out.mkdir()
    for name in FASHION:
        shutil.copy(data_dir / name, out / name)
    return out


def idx_gz(path: Path, header: bytes, payload: bytes) -> None:
    path.write_bytes(gzip.compress(header + payload, mtime=0))


def truncated_gz(tmp, data_dir):
    d = fashion_copy(tmp, data_dir)
    raw = (d / FASHION[0]).read_bytes()
    (d / FASHION[0]).write_bytes(raw[: len(raw) // 2])
    return ["engine.train", "--data-dir", d, "--steps", "1"]


def wrong_magic(tmp, data_dir):
    d = fashion_copy(tmp, data_dir)
    idx_gz(d / FASHION[0], bytes([1, 2, 8, 3]), b"\0" * 64)
    return ["engine.train", "--data-dir", d, "--steps", "1"]


def count_mismatch(tmp, data_dir):
    d = fashion_copy(tmp, data_dir)
    idx_gz(d / FASHION[1], bytes([0, 0, 8, 1]) + (255).to_bytes(4, "big"), bytes(255))  # 256 images, 255 labels
    return ["engine.train", "--data-dir", d, "--steps", "1"]


def label_out_of_range(tmp, data_dir):
    d = fashion_copy(tmp, data_dir)
    idx_gz(d / FASHION[1], bytes([0, 0, 8, 1]) + (256).to_bytes(4, "big"), bytes(200) + bytes([12]) + bytes(55))
    return ["engine.train", "--data-dir", d, "--steps", "1"]


def csv_columns(tmp, data_dir):
    d = tmp / "az"
    d.mkdir()
    row = ",".join(["0"] * 784)  # a label and 783 pixels: one column short
    (d / "A_Z Handwritten Data.csv").write_text((row + "\n") * 3)
    return ["engine.train", "--preset", "alphabet", "--dataset", "az_csv", "--data-dir", d, "--steps", "1"]


def empty_folder(tmp, data_dir):
    (tmp / "faces" / "nobody").mkdir(parents=True)
    return [
        "engine.train",
        "--preset",
        "dcgan_faces",
        "--dataset",
        "image_folder",
        "--data-dir",
        tmp / "faces",
        "--steps",
        "1",
    ]


def run_without_checkpoint(tmp, data_dir):
    from engine.config import RunOptions
    from engine.presets import get_preset
    from engine.run import directory as rundir

    run = tmp / "run"
    run.mkdir()
    rundir.write_config(run, get_preset("dcgan_fashion"), RunOptions())
    return ["export.onnx", "--run-dir", run]


def damaged_run(tmp: Path, trained_run: Path) -> Path:
    run = tmp / "run"
    shutil.copytree(trained_run, run)
    for data in (run / "checkpoints").glob("ckpt-*.data-*"):
        data.write_bytes(data.read_bytes()[:64])
    return run


def corrupt_checkpoint_export(tmp, data_dir, trained_run):
    return ["export.onnx", "--run-dir", damaged_run(tmp, trained_run)]


def corrupt_checkpoint_resume(tmp, data_dir, trained_run):
    return ["engine.train", "--resume", "--out-dir", damaged_run(tmp, trained_run), "--steps", "6"]


def force_onto_folder(tmp, data_dir, trained_run):
    (tmp / "mine" / "sub").mkdir(parents=True)
    (tmp / "mine" / "sub" / "f").write_text("x")
    return ["export.onnx", "--run-dir", trained_run, "--out", tmp / "mine", "--force"]


def force_onto_run(tmp, data_dir, trained_run):
    run = tmp / "run"
    shutil.copytree(trained_run, run)
    return ["export.onnx", "--run-dir", run, "--out", run, "--force"]


def force_onto_cwd(tmp, data_dir, trained_run):
    (tmp / "keep.txt").write_text("x")
    return ["export.savedmodel", "--run-dir", trained_run, "--out", ".", "--force"]


def force_savedmodel_onto_folder(tmp, data_dir, trained_run):
    (tmp / "models").mkdir()
    (tmp / "models" / "saved_model.pb").write_bytes(b"x")
    (tmp / "models" / "notes.txt").write_text("mine")
    return ["export.savedmodel", "--run-dir", trained_run, "--out", tmp / "models", "--force"]


def edited_config(tmp: Path, content) -> list:
    """A run directory whose config.json is replaced by `content` (bytes, a function of the original dict, or None
    for a directory), to be resumed."""
    import json

    from engine.config import RunOptions
    from engine.presets import get_preset
    from engine.run import directory as rundir

    run = tmp / "edited"
    run.mkdir()
    rundir.write_config(run, get_preset("dcgan_fashion"), RunOptions())
    path = run / "config.json"
    if content is None:
        path.unlink()
        path.mkdir()
    elif callable(content):
        path.write_text(json.dumps(content(json.loads(path.read_text()))))
    else:
        path.write_bytes(content)
    return ["engine.train", "--resume", "--out-dir", run]


def float_latent_dim(data: dict) -> dict:
    data["config"]["latent_dim"] = 100.0
    return data


def edited_lr(data: dict) -> dict:
    data["config"]["g_lr"] = 0.5
    return data


def small_folder(tmp: Path, classes=("cat", "dog")) -> Path:
    """Two class folders of four 8x8 PNGs each."""
    from PIL import Image

    for k, name in enumerate(classes):
        (tmp / "pets" / name).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (8, 8), (40 * k, 10 * i, 90)).save(tmp / "pets" / name / f"{i}.png")
    return tmp / "pets"


def conditional_run(tmp, data_dir):
    from engine.config import RunOptions
    from engine.presets import get_preset
    from engine.run import directory as rundir

    run = tmp / "conditional"
    run.mkdir()
    rundir.write_config(run, get_preset("cdcgan_fashion"), RunOptions())
    return ["engine.train", "--resume", "--out-dir", run, "--unconditional"]


@dataclass(frozen=True)
class Case:
    """One row: `command(tmp, data_dir[, trained_run])` -> argv (module first); the error line it must print."""

    name: str
    command: Callable
    message: str  # a regex searched in the `error:` line
    fresh_process: bool = False  # fails before TensorFlow starts: run it exactly as a user would
    env: tuple = ()  # (name, value) pairs set for the command
    needs_run: bool = False  # command also takes the `trained_run` fixture (copied, never changed)


def png_file(tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "one.png")
    return tmp_path / "one.png"


CASES = [
    Case(
        "missing data directory",
        lambda t, d: ["engine.train", "--data-dir", t / "nope", "--steps", "1"],
        r"--data-dir \S+nope does not exist; check the path, or install them with `sudo apt-get install",
    ),
    Case("truncated .gz", truncated_gz, r"train-images-idx3-ubyte.gz is truncated .*; delete it and re-download it"),
    Case(
        "wrong IDX magic",
        wrong_magic,
        r"is not an IDX file: bad magic number 0x01020803 \(expected 0x000008..\); delete it",
    ),
    Case("image/label count mismatch", count_mismatch, r"has 256 images but \S+ has 255 labels"),
    Case("label out of range", label_out_of_range, r"has 1 labels outside 0..9 \(first: 12 at index 200\)"),
    Case(
        "csv with the wrong column count",
        csv_columns,
        r"A_Z Handwritten Data.csv row 1 has 784 columns, expected 785 .*; is it Kaggle's A-Z csv",
    ),
    Case(
        "empty image folder",
        empty_folder,
        r"has no .jpg/.jpeg/.png/.webp files \(searched recursively\); pass a folder",
    ),
    Case(
        "--data-dir is an image file",
        lambda t, d: ["engine.train", "--data-dir", png_file(t), "--steps", "1"],
        r"--data-dir \S+one.png is an image file, not a folder; pass the folder that holds the images",
    ),
    Case(
        "unknown preset",
        lambda t, d: ["engine.train", "--preset", "nope"],
        r"unknown preset 'nope'; valid: acgan_mnist, alphabet",
        fresh_process=True,
    ),
    Case(
        "unknown dataset",
        lambda t, d: ["engine.train", "--dataset", "nope"],
        r"unknown dataset 'nope'; valid: az_csv, emnist_letters, fashion_mnist",
        fresh_process=True,
    ),
    Case(
        "override of the wrong type",
        lambda t, d: ["engine.train", "--set", "g_lr=fast"],
        r"override g_lr='fast': expected float",
        fresh_process=True,
    ),
    Case(
        "override of an unknown key",
        lambda t, d: ["engine.train", "--set", "learning_rate=1e-4"],
        r"unknown config key 'learning_rate'; valid keys: model, dataset",
        fresh_process=True,
    ),
    Case(
        "zero batch size",
        lambda t, d: ["engine.train", "--batch-size", "0"],
        r"--batch-size 0: must be > 0",
        fresh_process=True,
    ),
    Case(
        "negative batch size",
        lambda t, d: ["engine.train", "--set", "batch_size=-8"],
        r"invalid config: batch_size=-8 \(must be > 0\)",
        fresh_process=True,
    ),
    Case(
        "batch smaller than the replicas",
        lambda t, d: [
            *("engine.train", "--strategy", "mirrored", "--cpu-replicas", "2", "--batch-size", "1"),
            *("--data-dir", d, "--steps", "1"),
        ],
        r"batch_size 1 is smaller than the 2 replicas; use at least 2",
    ),
    Case(
        "batch not divisible across replicas",
        lambda t, d: [
            *("engine.train", "--strategy", "mirrored", "--cpu-replicas", "2", "--batch-size", "33"),
            *("--data-dir", d, "--steps", "1"),
        ],
        r"batch_size 33 does not split evenly across 2 replicas; use a multiple of 2",
    ),
    Case(
        "non-empty --out-dir without --resume",
        lambda t, d: ["engine.train", "--out-dir", t / "runs" / "latest", "--data-dir", d, "--steps", "1"],
        r"is not empty; pass --resume to continue that run, or choose another directory",
        fresh_process=True,
    ),
    Case(
        "--resume with another preset",
        lambda t, d, r: ["engine.train", "--resume", "--out-dir", r, "--preset", "alphabet"],
        r"the run is preset 'dcgan_fashion', not 'alphabet'; drop --preset",
        fresh_process=True,
        needs_run=True,
    ),
    Case(
        "--resume with another image shape",
        lambda t, d, r: ["engine.train", "--resume", "--out-dir", r, "--set", "image_shape=32x32x1"],
        r"image_shape: run has \(28, 28, 1\), asked \(32, 32, 1\)\); resume without",
        fresh_process=True,
        needs_run=True,
    ),
    Case(
        "exporting a run with no checkpoint",
        run_without_checkpoint,
        r"has no checkpoint yet; train it \(or let it reach its first checkpoint\) first",
    ),
    Case(
        "corrupt checkpoint (export)",
        corrupt_checkpoint_export,
        r"ckpt-4 cannot be restored into preset dcgan_fashion's generator .*--resume --out-dir",
        needs_run=True,
    ),
    Case(
        "corrupt checkpoint (--resume)",
        corrupt_checkpoint_resume,
        r"none of the checkpoints in \S+ \(ckpt-4, ckpt-2\) can be restored .*start a new run",
        needs_run=True,
    ),
    Case(
        "export --force onto a folder that is no export",
        force_onto_folder,
        r"--force: \S+mine is a directory; --force replaces only a previous export of this kind",
        needs_run=True,
    ),
    Case(
        "export --force onto the run directory",
        force_onto_run,
        r"--force: \S+run is a training run directory; --force replaces only",
        needs_run=True,
    ),
    Case(
        "export --force onto the working directory",
        force_onto_cwd,
        r"--force: \. is the working directory or one of its parents",
        needs_run=True,
    ),
    Case(
        "savedmodel --force onto a folder with other files",
        force_savedmodel_onto_folder,
        r"--force: \S+models holds files a SavedModel does not \(notes.txt\)",
        needs_run=True,
    ),
    Case(
        "--seed -1",
        lambda t, d: ["engine.train", "--seed", "-1"],
        r"invalid config: seed=-1 \(must be in \[0, 2\*\*32\)\)",
        fresh_process=True,
    ),
    Case(
        "--seed 2**32",
        lambda t, d: ["engine.train", "--seed", "4294967296"],
        r"seed=4294967296 \(must be in \[0, 2\*\*32\)\)",
        fresh_process=True,
    ),
    Case(
        "image_shape 0x0x1",
        lambda t, d: ["engine.train", "--set", "image_shape=0x0x1"],
        r"image_shape=\(0, 0, 1\) \(must be HxWxC with H, W > 0",
        fresh_process=True,
    ),
    Case(
        "image_shape 28x28",
        lambda t, d: ["engine.train", "--set", "image_shape=28x28"],
        r"image_shape=\(28, 28\) \(must be HxWxC",
        fresh_process=True,
    ),
    Case(
        "image_shape -28x28x1",
        lambda t, d: ["engine.train", "--set", "image_shape=-28x28x1"],
        r"image_shape=\(-28, 28, 1\) \(must be HxWxC",
        fresh_process=True,
    ),
    Case(
        "image_shape 4096x4096x1",
        lambda t, d: ["engine.train", "--set", "image_shape=4096x4096x1"],
        r"16,777,216 pixels; the model families are built for small images, at most 65,536",
        fresh_process=True,
    ),
    Case(
        "--cpu-replicas 64",
        lambda t, d: ["engine.train", "--strategy", "mirrored", "--cpu-replicas", "64"],
        r"cpu_replicas=64 \(must be 1 to \d+: at most 4 per CPU core\)",
        fresh_process=True,
    ),
    Case(
        "--cpu-replicas 100000 --dry-run",
        lambda t, d: ["engine.train", "--cpu-replicas", "100000", "--dry-run"],
        r"cpu_replicas=100000 \(must be 1 to",
        fresh_process=True,
    ),
    Case(
        "negative learning rate",
        lambda t, d: ["engine.train", "--set", "g_lr=-1"],
        r"g_lr=-1.0 \(must be a finite number > 0\)",
        fresh_process=True,
    ),
    Case(
        "NaN learning rate",
        lambda t, d: ["engine.train", "--set", "d_lr=nan"],
        r"d_lr=nan \(must be a finite number > 0\)",
        fresh_process=True,
    ),
    Case(
        "--checkpoint-every-seconds nan",
        lambda t, d: ["engine.train", "--checkpoint-every-seconds", "nan"],
        r"checkpoint_every_seconds=nan \(must be a finite number >= 0\)$",
        fresh_process=True,
    ),
    Case(
        "config.json that is binary",
        lambda t, d: edited_config(t, b"\x89PNG\xff\xfe"),
        r"config.json is unreadable \(UnicodeDecodeError: .*not written by this engine or is damaged",
        fresh_process=True,
    ),
    Case(
        "config.json with a list for config",
        lambda t, d: edited_config(t, b'{"config": [], "options": {}}'),
        r"config.json is unusable: Config in run directory is a list, not an object",
        fresh_process=True,
    ),
    Case(
        "config.json with a float latent_dim",
        lambda t, d: edited_config(t, float_latent_dim),
        r"values of the wrong type: latent_dim=100.0 \(expected int\)",
        fresh_process=True,
    ),
    Case(
        "config.json that is a directory",
        lambda t, d: edited_config(t, None),
        r"config.json is not a file; it was not written by this engine",
        fresh_process=True,
    ),
    Case(
        "config.json edited since training",
        lambda t, d: edited_config(t, edited_lr),
        r"its config.json was changed since the checkpoints were trained \(g_lr: trained with 0.001, config.json "
        r"has 0.5\); restore config.json",
        fresh_process=True,
    ),
    Case(
        "--set image_shape an any-size family cannot build (folder)",
        lambda t, d: ["engine.train", "--data-dir", small_folder(t), "--set", "image_shape=30x30x3", "--steps", "1"],
        r"--set image_shape=30x30x3: dcgan_any builds square images of side 8, 10, .*; pick one \(e.g. --set "
        r"image_shape=32x32x3\)",
    ),
    Case(
        "--set image_shape not square (folder)",
        lambda t, d: ["engine.train", "--data-dir", small_folder(t), "--set", "image_shape=32x16x3", "--steps", "1"],
        r"--set image_shape=32x16x3: dcgan_any builds square images of side",
    ),
    Case(
        "--unconditional with a conditional preset",
        lambda t, d: [
            *("engine.train", "--preset", "cdcgan_fashion", "--data-dir", small_folder(t), "--unconditional"),
            *("--steps", "1"),
        ],
        r"--unconditional: preset cdcgan_fashion is class-conditional \(10 classes\); drop --unconditional, or train "
        r"the folder preset",
    ),
    Case(
        "--unconditional on --resume of a conditional run",
        conditional_run,
        r"the run is class-conditional \(10 classes\), and a run keeps its model; drop --unconditional",
        fresh_process=True,
    ),
    Case(
        "--eval-at-minutes 0 or below",
        lambda t, d: ["engine.train", "--eval-at-minutes", "2,0"],
        r"--eval-at-minutes '2,0': expected numbers > 0 separated by commas",
        fresh_process=True,
    ),
    Case(
        "--eval-samples 0",
        lambda t, d: ["engine.train", "--eval-samples", "0"],
        r"invalid options: eval_samples=0 \(must be >= 2\)$",
        fresh_process=True,
    ),
    Case(
        "malformed TF_CONFIG",
        lambda t, d: ["engine.train", "--strategy", "multi_worker", "--data-dir", d],
        r"TF_CONFIG is not valid JSON \(Expecting property name enclosed in double quotes at char 1\)",
        env=(("TF_CONFIG", "{oops"),),
    ),
]


def snapshot(root: Path) -> dict:
    """Every path under `root` with its size and mtime (links: their target): what "nothing lost" compares."""
    out = {}
    for p in sorted(root.rglob("*")):
        key = str(p.relative_to(root))
        out[key] = os.readlink(p) if p.is_symlink() else (p.is_dir() or (p.stat().st_size, p.stat().st_mtime_ns))
    return out


def run_command(argv, case: Case, tmp: Path, capsys, monkeypatch) -> tuple[int, str]:
    argv = [str(a) for a in argv]
    if case.fresh_process:
        done = subprocess.run(
            [sys.executable, "-m", *argv],
            cwd=tmp,
            env={**ENV, **dict(case.env)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.returncode, done.stderr
    for key, value in case.env:
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module(argv[0], run_name="__main__", alter_sys=False)
    return exit_.value.code, capsys.readouterr().err


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_exit_2_and_loses_nothing(case, tmp_path, data_dir, request, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # A previous run that a failed command must leave alone, runs/latest included.
    previous = tmp_path / "runs" / "20260101-000000-dcgan_fashion"
    previous.mkdir(parents=True)
    (previous / "config.json").write_text("{}")
    (tmp_path / "runs" / "latest").symlink_to(previous.name)
    args = (tmp_path, data_dir, request.getfixturevalue("trained_run")) if case.needs_run else (tmp_path, data_dir)
    argv = case.command(*args)
    before = snapshot(tmp_path)
    capsys.readouterr()

    code, err = run_command(argv, case, tmp_path, capsys, monkeypatch)

    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) <= 3 and sum(line.startswith("error: ") for line in lines) == 1, err
    error = next(line for line in lines if line.startswith("error: "))
    assert re.search(case.message, error), error
    assert snapshot(tmp_path) == before, "the failed command changed files"


def test_an_unreadable_image_among_good_ones_is_skipped_counted_and_named(tmp_path, capsys):
    from PIL import Image

    from engine.data.registry import load_dataset

    rng = np.random.default_rng(0)
    for i in range(19):
        Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8)).save(tmp_path / f"good_{i:02d}.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    loaded = {split: load_dataset("image_folder", split, str(tmp_path), (8, 8, 1)) for split in ("train", "test")}
    assert sum(len(d.images) for d in loaded.values()) == 19
    err = capsys.readouterr().err
    assert "image_folder: skipped 1 of" in err and "bad.png" in err and "could not be read as images" in err


@pytest.fixture(scope="module")
def conditional_onnx(tmp_path_factory):
    """A tiny conditional generator (latent 8, 3 classes) written by the real ONNX exporter."""
    import keras
    from keras import layers

    from export.onnx import write_onnx

    keras.utils.set_random_seed(0)
    z, label = keras.Input((8,), name="z"), keras.Input((), dtype="int32", name="label")
    h = layers.Multiply()([z, layers.Embedding(3, 8)(label)])
    image = layers.Reshape((2, 2, 2))(layers.Dense(8, activation="tanh")(h))
    meta = {
        "latent_dim": 8,
        "latent_distribution": "normal",
        "latent_range": None,
        "num_classes": 3,
        "class_names": ["a", "b", "c"],
        "output_range": [-1.0, 1.0],
        "layout": "NHWC",
        "image_shape": [2, 2, 2],
        "preset": "tiny",
        "step": 0,
        "checkpoint_sha256": "0" * 64,
        "engine_version": "test",
    }
    return write_onnx(keras.Model([z, label], image), meta, tmp_path_factory.mktemp("onnx") / "g.onnx")


@pytest.mark.parametrize(
    "z, labels, message",
    [
        (np.zeros((2, 8), np.float64), [0, 1], r"z must be float32 \[batch, 8\], got float64 \[2, 8\]"),
        (np.zeros((2, 7), np.float32), [0, 1], r"z must be float32 \[batch, 8\], got float32 \[2, 7\]"),
        (np.zeros((2, 8), np.float32), [0, 3], r"labels must be integer \[2\] .* in \[0, 3\), got values from 0 to 3"),
    ],
    ids=["wrong dtype", "wrong latent size", "label out of range"],
)
def test_the_runtime_refuses_bad_inputs_naming_the_signature(conditional_onnx, z, labels, message):
    from export.runtime import Generator, GeneratorInputError

    g = Generator.load(conditional_onnx)
    with pytest.raises(GeneratorInputError, match=message):
        g(z, np.asarray(labels, np.int32))
