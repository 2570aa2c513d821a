"""What every benchmark's results share: the machine and software they ran on, and how they are written.

Result files are written only for a complete measurement (`check_complete`), each by rename (safeio.replace_file),
so an interrupted or failed benchmark leaves the committed results as they were; plots are optional (`plot_or_say`).
"""

import datetime
import json
import os
import platform
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from engine.errors import UserError
from safeio import replace_file


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions(*packages: str) -> str:
    found = []
    for name in packages:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def describe_machine(command: str) -> str:
    """Markdown lines: date, command, CPU, cores, Python and the ML packages' versions."""
    return "\n".join(
        [
            f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
            f"- command: `{command}`",
            f"- machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}",
            f"- software: Python {platform.python_version()}, "
            + versions("tensorflow", "keras", "onnxruntime", "onnxruntime-gpu", "ai-edge-litert", "tf2onnx", "onnx"),
        ]
    )


def save_results(out, name: str, markdown: str, record: dict) -> tuple[Path, Path]:
    """Writes `<out>/<name>.md` and `<out>/<name>.json`, each whole or not at all (written beside, then renamed);
    returns both paths."""
    out = make_folder(out, "--out")
    md, js = out / f"{name}.md", out / f"{name}.json"
    replace_file(js, (json.dumps(record, indent=2) + "\n").encode())
    replace_file(md, markdown.encode())
    return md, js


def make_folder(path, flag: str) -> Path:
    """Makes the folder an option names (and its parents); a file in its place, or a folder that cannot be made, is
    one line naming the option instead of a traceback. Returns the path."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"{flag} {path}: a file is in the way, not a folder; name a folder") from None
    except OSError as e:
        raise UserError(f"{flag} {path}: cannot make this folder ({e.strerror}); name one you may write") from None
    return path


def check_complete(results: list[dict], asked: int, what: str = "rows") -> None:
    """Refuses to write results unless every one of the `asked` rows was measured (no "error" record).

    Raises:
      UserError: naming how many were not measured and the first one's error; nothing is written.
    """
    failed = [r for r in results if r.get("error")]
    missing = asked - (len(results) - len(failed))
    if missing > 0:
        first = f" (first: {failed[0]['error']})" if failed else ""
        raise UserError(
            f"{missing} of {asked} {what} were not measured{first}; no result file was written (the previous "
            "results are as they were); fix that and run the benchmark again"
        )


def plot_or_say(plot: Callable, *args, **kwargs) -> bool:
    """Calls `plot(*args, **kwargs)` (which imports matplotlib); without matplotlib says so in one line and returns
    False: the tables are the results, a plot is their picture."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(
            "note: matplotlib is not installed, so no plot was drawn (pip install matplotlib); the tables were written",
            file=sys.stderr,
        )
        return False
    plot(*args, **kwargs)
    return True
