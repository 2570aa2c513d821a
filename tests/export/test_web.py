"""The browser demo (examples/web, served by export.serve): onnxruntime-web's wasm backend in headless Chromium gives
Python onnxruntime's images for the same latents, and the page draws its grid. Needs Debian's chromium, playwright
and `npm install` in examples/web (scripts/setup.sh --dev installs all three); skipped when one is absent.

The README screenshot: python tests/export/test_web.py RUN docs/images/web_demo.png (RUN holds export/generator.onnx).
"""

import importlib.util
import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from export import metadata
from export.serve import WEB, make_server

CHROMIUM = Path("/usr/bin/chromium")
MISSING = [
    what
    for what, ok in [
        (str(CHROMIUM), CHROMIUM.is_file()),
        ("playwright (pip)", importlib.util.find_spec("playwright") is not None),
        ("examples/web/node_modules (npm install)", (WEB / "node_modules" / "onnxruntime-web").is_dir()),
    ]
    if not ok
]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)}: run scripts/setup.sh --dev")
BATCH = 4


@contextmanager
def served(run_dir):
    """The demo server for `run_dir` on 127.0.0.1 at a free port, in a thread: yields its base URL."""
    server = make_server(run_dir, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def browser_page(width: int = 640, height: int = 760):
    """A headless Chromium page (Debian's chromium; Playwright downloads no browser)."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium refuses root without it
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page, errors
        finally:
            browser.close()


def open_demo(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("window.ready || window.loadError", timeout=60_000)
    assert page.evaluate("window.loadError") is None, page.evaluate("window.loadError")


def screenshot(run_dir, out) -> Path:
    """Saves a PNG of the demo page for `run_dir` (its grid, controls and status line) at `out`."""
    with served(run_dir) as url, browser_page() as (page, errors):
        open_demo(page, url)
        page.locator("main").screenshot(path=str(out))
        assert not errors, errors
    return Path(out)


@pytest.fixture(scope="module", params=[(0, "normal"), (3, "uniform")], ids=["unconditional", "conditional"])
def run_dir(request, tmp_path_factory):
    """A run-like folder holding export/generator.onnx (+ .json sidecar) of a tiny generator."""
    from test_runtime import tiny_generator, tiny_meta

    from export.onnx import write_onnx

    classes, distribution = request.param
    meta = tiny_meta(classes) | {
        "latent_distribution": distribution,
        "latent_range": [-1.0, 1.0] if distribution == "uniform" else None,
    }
    run = tmp_path_factory.mktemp("run")
    write_onnx(tiny_generator(classes), meta, run / "export" / "generator.onnx")
    return run


def test_browser_matches_onnxruntime_and_draws_the_grid(run_dir, tmp_path):
    import onnxruntime as ort
    from PIL import Image

    path = run_dir / "export" / "generator.onnx"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = metadata.read_sidecar(path)  # what the page reads: export.onnx writes it beside the .onnx file
    assert meta == metadata.from_props(session.get_modelmeta().custom_metadata_map)
    classes, latent = meta["num_classes"], meta["latent_dim"]
    rng = np.random.default_rng(0)
    z = (
        rng.standard_normal((BATCH, latent))
        if meta["latent_distribution"] == "normal"
        else rng.uniform(-1, 1, (BATCH, latent))
    ).astype(np.float32)
    labels = np.arange(BATCH, dtype=np.int32) % classes if classes else None
    feeds = {"z": z} | ({"label": labels} if classes else {})
    expected = session.run(["image"], feeds)[0]

    with served(run_dir) as url, browser_page() as (page, errors):
        open_demo(page, url)
        got = page.evaluate(
            "async ([z, batch, labels]) => Array.from(await window.generate(z, batch, labels))",
            [z.ravel().tolist(), BATCH, None if labels is None else labels.tolist()],
        )
        error = np.abs(np.asarray(got, np.float32).reshape(expected.shape) - expected).max()
        assert error <= 1e-4, f"browser vs onnxruntime: max abs error {error:.2e}"

        if classes:  # the class picker lists "all classes" then the class names, and redraws for one class
            options = page.locator("#class option").all_inner_texts()
            assert options == ["all classes"] + [f"c{i}" for i in range(classes)]
            page.select_option("#class", "1")
        page.locator("#t").fill("0.5")  # the interpolation slider redraws the grid at t = 0.5
        page.wait_for_function("document.getElementById('t-value').textContent === '0.50'")
        page.click("#new")
        page.wait_for_function("/seed 2,|^error/.test(document.getElementById('status').textContent)")
        status = page.inner_text("#status")
        assert "error" not in status and "seed 2" in status, status
        shot = tmp_path / "grid.png"
        page.locator("#grid").screenshot(path=str(shot))
        assert not errors, errors

    pixels = np.asarray(Image.open(shot).convert("L"))
    print(f"max abs error {error:.2e}, screenshot {shot}")
    assert pixels.shape[1] >= 400 and pixels.std() > 5  # the scaled-up grid, not a blank canvas


if __name__ == "__main__":
    if len(sys.argv) != 3 or MISSING:
        sys.exit(f"usage: python {sys.argv[0]} RUN OUT.png (needs {', '.join(MISSING) or 'nothing more'})")
    print(screenshot(sys.argv[1], sys.argv[2]))
