"""Serves the browser demo: examples/web/ at `/` and a run's export/ folder at `/model/`. No TensorFlow import.

Usage: python -m export.serve [RUN] [--port 8000] [--host 127.0.0.1]

RUN (default runs/latest) must hold export/generator.onnx (python -m export.onnx --run-dir RUN writes it, with its
metadata sidecar generator.onnx.json). The page needs onnxruntime-web: cd examples/web && npm install. Only files
under those two folders are served: no directory listings, no hidden names (an export's staging folders), no paths
that resolve outside them. At most MAX_CONNECTIONS connections are served at once (more get 503), and a connection
idle for IDLE_TIMEOUT seconds is closed; a client that goes away early is not an error.
"""

import argparse
import functools
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from engine.errors import UserError, first_line, run_cli
from engine.run.layout import EXPORT
from safeio import printable

MAX_CONNECTIONS = 32  # a browser opens about 6 per host
IDLE_TIMEOUT = 30  # seconds a connection may send nothing before it is closed

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
    timeout = IDLE_TIMEOUT  # socket timeout: an idle keep-alive connection frees its thread

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
        """404 for a path that resolves outside both roots (`..`, symlinks), names a hidden file or folder, or
        cannot be a file name (a NUL byte); else SimpleHTTPRequestHandler's."""
        path = unquote(urlsplit(self.path).path)
        if "\0" in path or any(part.startswith(".") for part in path.split("/")):
            self.send_error(404)
            return None
        try:
            target = Path(self.translate_path(self.path))
        except (OSError, ValueError):  # a name too long, a symlink loop
            self.send_error(404)
            return None
        if not any(target == root or target.is_relative_to(root) for root in self.roots):
            self.send_error(404)
            return None
        return super().send_head()

    def list_directory(self, path):
        self.send_error(404, "no directory listings")


class Server(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` at once (more are answered 503 and closed); a client
    that disconnects or times out is not reported, any other failure is one line on stderr, not a traceback."""

    daemon_threads = True

    def __init__(self, *args, max_connections: int = MAX_CONNECTIONS, **kwargs):
        self.slots = threading.BoundedSemaphore(max_connections)
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            try:
                request.settimeout(1.0)
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\n"
                    b"Connection: close\r\n\r\n"
                )
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):  # BrokenPipe, reset: the client went away
            return
        print(f"note: a request from {client_address[0]} failed ({first_line(error)})", file=sys.stderr, flush=True)


def check_port(port) -> int:
    """`port` if it is one (0 to 65535; 0 picks a free one), else UserError."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise UserError(f"--port {port} is not a port; give 0 to 65535 (0: any free port)")
    return port


def make_server(run_dir, host: str = "127.0.0.1", port: int = 8000, web: Path = WEB) -> ThreadingHTTPServer:
    """A server for `run_dir`'s export/ folder and the demo page (port 0: any free port; `server_port` says which).

    Raises:
      UserError: run_dir/export/generator.onnx, the page (web/index.html: an installed wheel has none) or
        web/node_modules/onnxruntime-web is missing, the port is out of range, or it cannot be listened on.
    """
    check_port(port)
    run_dir = Path(run_dir)
    model = run_dir / EXPORT
    if not (model / "generator.onnx").is_file():
        raise UserError(
            f"{model / 'generator.onnx'} is missing; export it first: python -m export.onnx --run-dir {run_dir}"
        )
    if not (web / "index.html").is_file():
        raise UserError(
            f"the demo page {web} is not here: it comes with the repository (examples/web), not with an installed "
            "wheel; run python -m export.serve from a checkout"
        )
    if not (web / "node_modules" / "onnxruntime-web").is_dir():
        raise UserError(
            f"{web / 'node_modules' / 'onnxruntime-web'} is missing; install it: cd examples/web && npm install"
        )
    try:
        return Server((host, port), functools.partial(Handler, web=web, model=model))
    except (OSError, OverflowError, UnicodeError) as e:  # UnicodeError: a host name IDNA cannot encode
        reason = getattr(e, "strerror", None) or first_line(e)
        raise UserError(f"cannot listen on {host}:{port} ({reason}); pick another --port or --host") from None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m export.serve", description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", default="runs/latest", help="run directory (default: runs/latest)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    args = parser.parse_args(argv)
    server = make_server(args.run, args.host, args.port)
    where = printable(str(Path(args.run) / EXPORT))
    print(f"serving {where} at http://{args.host}:{server.server_port}/  (Ctrl-C stops)", flush=True)
    with server:
        server.serve_forever()


if __name__ == "__main__":
    run_cli(main)
