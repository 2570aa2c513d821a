"""A short description of the machine and software a benchmark ran on, for the header of its results."""

import datetime
import os
import platform
from importlib import metadata


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
    return "\n".join([
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- command: `{command}`",
        f"- machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}",
        f"- software: Python {platform.python_version()}, "
        + versions("tensorflow", "keras", "onnxruntime", "onnxruntime-gpu", "ai-edge-litert", "tf2onnx", "onnx"),
    ])
