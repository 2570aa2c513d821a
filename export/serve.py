"""Serves the browser demo: examples/web/ at `/` and a run's export/ folder at `/model/`. No TensorFlow import.

Usage: python -m export.serve [RUN] [--port 8000] [--host 127.0.0.1]

RUN (default runs/latest) must hold export/generator.onnx (python -m export.onnx --run-dir RUN writes it, with its
metadata sidecar generator.onnx.json). The page needs onnxruntime-web: cd examples/web && npm install. Only files
under those two folders are served: no directory listings, no paths that resolve outside them.
"""

import argparse
import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from engine.errors import UserError, run_cli

WEB = Path(__file__).resolve().parents[1] / "examples" / "web"
MIME = {
    ".wasm": "application/wasm",
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".json": "application/json",
    ".html": "text/html",
    ".css": "text/css",
    ".png": "image/png",
    ".onnx": "application/octet-stream",
    ".map": "application/json",
}


class Handler(SimpleHTTPRequestHandler):
    """GET/HEAD of files under `web` (at /) and `model` (at /model/); everything else is 404."""

    extensions_map = MIME

    def __init__(self, *args, web: Path, model: Path, **kwargs):
        self.roots = (web.resolve(), model.resolve())
        super().__init__(*args, directory=str(web), **kwargs)

    def translate_path(self, path: str) -> str:
        """The resolved file a URL path names: /model/... under the model folder, anything else under web."""
        path = unquote(urlsplit(path).path)
        web, model = self.roots
        root, rel = (model, path[len("/model/") :]) if path.startswith("/model/") else (web, path.lstrip("/"))
        return str((root / rel).resolve())

    def send_head(self):
        """404 for a path that resolves outside both roots (`..`, symlinks); else SimpleHTTPRequestHandler's."""
        target = Path(self.translate_path(self.path))
        if not any(target == root or target.is_relative_to(root) for root in self.roots):
            self.send_error(404)
            return None
        return super().send_head()

    def list_directory(self, path):
        self.send_error(404, "no directory listings")


def make_server(run_dir, host: str = "127.0.0.1", port: int = 8000, web: Path = WEB) -> ThreadingHTTPServer:
    """A server for `run_dir`'s export/ folder and the demo page (port 0: any free port; `server_port` says which).

    Raises:
      UserError: run_dir/export/generator.onnx or web/node_modules/onnxruntime-web is missing.
    """
    run_dir = Path(run_dir)
    model = run_dir / "export"
    if not (model / "generator.onnx").is_file():
        raise UserError(
            f"{model / 'generator.onnx'} is missing; export it first: python -m export.onnx --run-dir {run_dir}"
        )
    if not (web / "node_modules" / "onnxruntime-web").is_dir():
        raise UserError(
            f"{web / 'node_modules' / 'onnxruntime-web'} is missing; install it: cd examples/web && npm install"
        )
    try:
        return ThreadingHTTPServer((host, port), functools.partial(Handler, web=web, model=model))
    except OSError as e:
        raise UserError(f"cannot listen on {host}:{port} ({e.strerror or e}); pick another --port or --host") from None


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m export.serve", description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", default="runs/latest", help="run directory (default: runs/latest)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    args = parser.parse_args()
    server = make_server(args.run, args.host, args.port)
    print(
        f"serving {Path(args.run) / 'export'} at http://{args.host}:{server.server_port}/  (Ctrl-C stops)", flush=True
    )
    with server:
        server.serve_forever()


if __name__ == "__main__":
    run_cli(main)
