"""The wheel works without the repository: built from the sources, installed into a new venv, then `python -m
engine.train --steps 20`, `python -m engine.evaluate` (with the evaluator the wheel ships) and `python -m export.onnx`
run from a folder outside the checkout, and the exported file runs in the runtime.

How the venv is made, and why it is still clean: TensorFlow and the other dependencies are about 2 GB, so the test
does not install them again. The new venv (`python -m venv`, no system site-packages) gets the wheel with
`pip install --no-deps`, and one `.pth` file naming the site-packages folder that holds the dependencies of the
Python running the tests. A `.pth` line that is a path only adds that folder to the end of sys.path; the `.pth` files
inside it (such as an editable install's finder, which points at a checkout) are not run. The commands run with
PYTHONPATH unset, in a temporary folder, and the test first checks that `engine`, `export`, `imagegrid` and `safeio`
are imported from the new venv's own site-packages, so the checkout cannot be what they run.
"""

import os
import shutil
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest
from conftest import write_fashion_like

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "export", "imagegrid", "safeio", "benchmarks")


def run(args, cwd: Path, env: dict, timeout: int = 600) -> str:
    """Runs a command, returning its output; fails the test with that output when it exits non-zero."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def build_wheel(out: Path, scratch: Path) -> Path:
    """The project's wheel, built from a copy of its sources (so the build writes nothing into the checkout)."""
    source = scratch / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "results")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=ignore)
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    run([*pip, "-w", str(out), str(source)], cwd=scratch, env=os.environ.copy())
    (wheel,) = out.glob("gan_engine-*.whl")
    return wheel


def clean_venv(venv: Path, wheel: Path) -> Path:
    """A new venv holding the wheel, whose dependencies come from this Python's site-packages; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], venv, {}).strip())
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q"]
    run([*pip, str(wheel)], cwd=venv, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    dependencies = Path(find_spec("tensorflow").submodule_search_locations[0]).parent  # this Python's site-packages
    (site / "_dependencies.pth").write_text(f"{dependencies}\n")
    return python


@pytest.mark.slow  # builds the wheel, then trains, evaluates and exports in their own processes: 8 min on 2 busy cores
def test_the_wheel_trains_evaluates_and_exports_outside_the_checkout(tmp_path):
    wheel = build_wheel(tmp_path / "dist", tmp_path)
    python = clean_venv(tmp_path / "venv", wheel)
    work, data = tmp_path / "work", tmp_path / "fashion_like"
    work.mkdir()
    data.mkdir()
    write_fashion_like(data)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(GAN_DATA_DIR=str(data), HOME=str(tmp_path / "home"), TF_CPP_MIN_LOG_LEVEL="2")

    modules = ("engine", "export", "imagegrid", "safeio")
    imported = f"import {', '.join(modules)}; print(*(m.__file__ for m in [{', '.join(modules)}]))"
    where = [Path(f) for f in run([python, "-c", imported], work, env).split()]
    assert len(where) == 4 and all(f.is_relative_to(tmp_path / "venv" / "lib") for f in where), where

    run([python, "-m", "engine.train", "--steps", "20"], work, env)
    assert (work / "runs" / "latest" / "checkpoints").is_dir()
    scored = run([python, "-m", "engine.evaluate", "--num-samples", "256"], work, env)
    assert "shipped evaluator" in scored and (work / "runs" / "latest" / "evaluation.json").is_file(), scored
    exported = run([python, "-m", "export.onnx"], work, env)
    onnx_file = work / "runs" / "latest" / "export" / "generator.onnx"
    assert onnx_file.is_file() and (onnx_file.parent / "generator.onnx.json").is_file(), exported

    sample = "from export.runtime import Generator; g = Generator.load('{}'); print(g.sample(4).shape)"
    assert run([python, "-c", sample.format(onnx_file)], work, env).strip().startswith("(4, ")
