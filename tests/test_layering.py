"""The arrows point one way: engine never imports export; the runtime side imports neither engine nor TensorFlow;
imagegrid imports neither. Checked on the source (every import statement, at any depth), so a lazy import counts."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_packages(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    "files, forbidden",
    [
        (sorted((ROOT / "engine").rglob("*.py")), {"export", "benchmarks"}),
        (
            [ROOT / "export" / name for name in ("runtime.py", "metadata.py", "sample.py", "__init__.py")],
            {"engine", "tensorflow", "keras", "tf2onnx"},
        ),
        ([ROOT / "imagegrid" / "__init__.py"], {"engine", "export", "tensorflow", "keras"}),
    ],
    ids=["engine", "runtime", "imagegrid"],
)
def test_imports_point_one_way(files, forbidden):
    offenders = {str(f.relative_to(ROOT)): sorted(imported_packages(f) & forbidden) for f in files}
    assert not {f: names for f, names in offenders.items() if names}
