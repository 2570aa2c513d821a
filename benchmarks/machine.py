"""What every benchmark's results share: the machine and software they ran on, and how they are written."""

import datetime
import json
import os
import platform
from importlib import metadata
from pathlib import Path


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
    """Writes `<out>/<name>.md` and `<out>/<name>.json`; returns both paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / f"{name}.md", out / f"{name}.json"
    md.write_text(markdown)
    js.write_text(json.dumps(record, indent=2) + "\n")
    return md, js
