"""examples/notebook.ipynb in a real Jupyter kernel (nbclient + ipykernel, from the dev extra), top to bottom, with a
few steps on tiny data in place of its parameter cell: every cell runs, each grid is shown as a PNG, the progress bar
is tqdm's widget, and no cell shows a traceback or a line of TensorFlow's own logging. The kernel runs this
interpreter, from a kernel spec in a temporary folder (nothing is registered with Jupyter)."""

import ast
import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "notebook.ipynb"
# TensorFlow's C++ log lines ("E0000 00:00:... cuda_platform.cc:52] failed call to cuInit", "I0000 ...
# cpu_feature_guard.cc", oneDNN's notice) and its Python logger's lines.
TF_LOG = re.compile(r"^[IWEF]\d{4} |cuda|cpu_feature_guard|oneDNN|absl::|WARNING:tensorflow", re.MULTILINE | re.I)
WIDGET = "application/vnd.jupyter.widget-view+json"


def read_notebook():
    import nbformat

    return nbformat.read(NOTEBOOK, as_version=4)


def test_the_notebook_is_stored_without_outputs():
    notebook = read_notebook()
    import nbformat

    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert [cell.id for cell in code if "parameters" in cell.metadata.get("tags", [])] == ["parameters"]


def kernel_manager(folder: Path, manager_class=None):
    """A kernel manager (default: the asynchronous one nbclient drives) for this interpreter's ipykernel, from a
    kernel spec in `folder`."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    spec = folder / "kernels" / "gan-engine-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "gan-engine", "language": "python"}))
    specs = KernelSpecManager(kernel_dirs=[str(spec.parent)])
    return (manager_class or AsyncKernelManager)(kernel_name=spec.name, kernel_spec_manager=specs)


def kernel_env(folder: Path) -> dict:
    """The kernel's environment: this one, with the repository first on the path, IPython's files in `folder`, and
    no TF_CPP_MIN_LOG_LEVEL (the tests set it; a user's notebook has none: the engine's quiet console must do)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["IPYTHONDIR"] = str(folder / "ipython")
    return env


def texts(output) -> list[str]:
    if output.output_type == "stream":
        return [output.text]
    if output.output_type == "error":
        return ["\n".join(output.traceback)]
    return [output.get("data", {}).get("text/plain", "")]


def test_the_notebook_runs_in_a_real_kernel(tmp_path, data_dir):
    from nbclient import NotebookClient

    notebook = read_notebook()
    parameters = next(cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", []))
    tiny = {
        "MINUTES": None,
        "STEPS": 4,
        "DATA_DIR": str(data_dir),
        "OUT_DIR": str(tmp_path / "run"),
        "EVAL_SAMPLES": 100,
    }
    assigned = {t.id for node in ast.parse(parameters.source).body for t in getattr(node, "targets", [])}
    assert assigned == set(tiny)  # every parameter replaced, none left at its full size
    parameters.source = "\n".join(f"{name} = {value!r}" for name, value in tiny.items())

    client = NotebookClient(
        notebook,
        km=kernel_manager(tmp_path),
        timeout=300,
        startup_timeout=120,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    client.execute(env=kernel_env(tmp_path))

    code = {cell.id: cell for cell in notebook.cells if cell.cell_type == "code"}
    for cell in code.values():
        for output in cell.outputs:
            assert output.output_type != "error", f"{cell.id}: {output.ename}: {output.evalue}"
            for text in texts(output):
                assert "Traceback" not in text, f"{cell.id}: {text}"
                assert not TF_LOG.search(text), f"{cell.id}: a TensorFlow log line in {text!r}"
    for name in ("grid", "runtime", "walk"):
        assert any("image/png" in o.get("data", {}) for o in code[name].outputs), name
    train = code["train"].outputs
    if importlib.util.find_spec("ipywidgets"):
        assert any(WIDGET in o.get("data", {}) for o in train)  # tqdm.auto's widget, not a text bar
    assert "Run(" in "".join(o.get("data", {}).get("text/plain", "") for o in train)
    assert "verified against Keras" in "".join(o.get("text", "") for o in code["export"].outputs)
    assert (tmp_path / "run" / "export" / "generator.onnx").is_file()


def run_cell(client, code: str, *, on_stream=None) -> tuple[dict, list[tuple[str, str]]]:
    """Runs `code` in the kernel: (its execute reply, its (stream name, text) outputs, "error" for an error);
    `on_stream(text)` sees each stream output as it arrives."""
    request = client.execute(code)
    outputs = []
    while True:
        message = client.get_iopub_msg(timeout=300)
        if message["parent_header"].get("msg_id") != request:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream":
            outputs.append((content["name"], content["text"]))
            if on_stream:
                on_stream(content["text"])
        elif kind == "error":
            outputs.append(("error", f"{content['ename']}: {content['evalue']}"))
        elif kind == "status" and content["execution_state"] == "idle":
            return client.get_shell_msg(timeout=60), outputs


@pytest.mark.slow  # the same stop in the default run, in-process: tests/engine/test_api.py (SIGINT)
def test_the_stop_button_saves_a_checkpoint_and_fit_returns_the_run(tmp_path, data_dir):
    """Jupyter's stop button (Kernel > Interrupt: SIGINT to the kernel) during `engine.fit`: the cell ends without an
    error, its output says where the run stopped, `run` is the run at its checkpoint, and another `engine.fit` in
    the same kernel trains."""
    import queue

    from jupyter_client.manager import KernelManager

    manager = kernel_manager(tmp_path, KernelManager)
    manager.start_kernel(env=kernel_env(tmp_path), cwd=str(tmp_path))
    client = manager.client()
    client.start_channels()
    pressed = []

    def stop_button(text: str) -> None:
        if not pressed and "training dcgan_any_fashion" in text:
            manager.interrupt_kernel()
            pressed.append(True)

    try:
        client.wait_for_ready(timeout=120)
        stopped = (
            "import engine\n"
            f"run = engine.fit(data_dir={str(data_dir)!r}, steps=100000, out_dir={str(tmp_path / 'run')!r})\n"
            "print('returned', run.step)"
        )
        reply, outputs = run_cell(client, stopped, on_stream=stop_button)
        again = (
            f"other = engine.fit(data_dir={str(data_dir)!r}, steps=2, batch_size=64, out_dir={str(tmp_path / 'b')!r})"
        )
        second, more = run_cell(client, again + "\nprint('second', other.step)")
    except queue.Empty:
        pytest.fail("the kernel did not answer in time")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert pressed and reply["content"]["status"] == "ok", outputs
    stderr = "".join(text for name, text in outputs if name == "stderr")
    stdout = "".join(text for name, text in outputs if name == "stdout")
    assert "SIGINT: stopping at the end of the current steps to save a checkpoint" in stderr  # in the cell
    step = int(stdout.split("returned ")[1].split()[0])
    assert step > 0 and f"stopped at step {step} of 100000: checkpoint saved" in stdout
    assert (tmp_path / "run" / "checkpoints" / f"ckpt-{step}.index").is_file()
    assert second["content"]["status"] == "ok" and "second 2" in "".join(text for _, text in more), more
