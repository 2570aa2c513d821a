"""The arrows point one way: engine never imports export; the runtime side imports neither engine nor TensorFlow;
imagegrid imports neither. Checked on the source (every import statement, at any depth), so a lazy import counts.

One reach from engine into export is made by name, at call time: the Python API's `Run.export` (engine/api.py) imports
the exporter whose module its `EXPORTERS` table names (`importlib.import_module`), so that `run.export("onnx")` is
`python -m export.onnx`. It is the only one: no other engine module calls `import_module` or names an export module
(test_the_one_by_name_reach_into_export)."""

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
        ([ROOT / "safeio" / "__init__.py"], {"engine", "export", "benchmarks", "imagegrid", "tensorflow", "numpy"}),
    ],
    ids=["engine", "runtime", "imagegrid", "safeio"],
)
def test_imports_point_one_way(files, forbidden):
    offenders = {str(f.relative_to(ROOT)): sorted(imported_packages(f) & forbidden) for f in files}
    assert not {f: names for f, names in offenders.items() if names}


# Where engine imports a module by name (importlib.import_module), and what: nothing else may.
IMPORTS_BY_NAME = {
    "engine/models/__init__.py": "its own members, each family's module",
    "engine/api.py": "the exporter EXPORTERS names, when Run.export is called",
}


def test_the_one_by_name_reach_into_export():
    """engine/api.py's EXPORTERS, a plain dict of format -> module name, is the only place engine names an export
    module, and engine imports modules by name only where IMPORTS_BY_NAME says; each name in EXPORTERS is a module
    that defines the exporter's COMMAND (export.common.Command)."""
    by_name, named = set(), {}
    for path in sorted((ROOT / "engine").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "import_module":
                by_name.add(str(path.relative_to(ROOT)))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("export."):
                named.setdefault(str(path.relative_to(ROOT)), []).append(node.value)
    from engine.api import EXPORTERS

    assert by_name == set(IMPORTS_BY_NAME)
    assert named == {"engine/api.py": list(EXPORTERS.values())}
    for module in EXPORTERS.values():
        tree = ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text())
        stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        assert "COMMAND" in stored, module


PACKAGES = ("engine", "export", "benchmarks", "imagegrid", "safeio")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports: `from a.b import c` counts as a.b, or as a.b.c when that is a module."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            names |= subs or {node.module}
    return names & known


def import_graph() -> dict[str, set[str]]:
    files = {module_name(f): f for top in PACKAGES for f in sorted((ROOT / top).rglob("*.py"))}
    return {m: imported_modules(f, set(files)) - {m} for m, f in files.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_circles_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_anywhere():
    """A package's __init__ importing its members is fine; a member importing the package back is a circle."""
    assert circles(import_graph()) == []


# engine's wings (each package's __init__ says what lives where): what each may import from the rest of engine.
LEAVES = {
    "engine",
    "engine.config",
    "engine.errors",
    "engine.registry",
    "engine.quiet",
    "engine.version",
}  # and safeio, imagegrid
CLIS = {"engine.train", "engine.evaluate", "engine.launch"}
# The layers over the wings: the Python API and the path it shares with `python -m engine.train` (which the command
# lines and the API import, never a wing), and engine.options, the keywords-to-command-line helper they use.
LIBRARY = {"engine.api", "engine.training", "engine.options"}
WING_MAY_IMPORT = {
    "engine.step": LEAVES | {"engine.models"},  # the traced step knows nothing of the run, the data or the cluster
    "engine.cluster": LEAVES,
    "engine.data": LEAVES,
    "engine.models": LEAVES,
    "engine.presets": LEAVES,
    "engine.quality": LEAVES | {"engine.data"},
    "engine.run": LEAVES
    | {"engine.step", "engine.cluster", "engine.data", "engine.models", "engine.quality", "engine.presets"},
}


def wing(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "engine" and len(parts) > 2 else module


def test_wings_import_only_what_their_rules_allow():
    graph = import_graph()
    offenders = {}
    for module, imported in graph.items():
        if wing(module) in WING_MAY_IMPORT:
            outside = {wing(m) for m in imported if m.startswith("engine")} - {wing(module)}
            if bad := outside - WING_MAY_IMPORT[wing(module)]:
                offenders[module] = sorted(bad)
    assert not offenders


def test_wing_rules_cover_every_engine_package_and_forbid_the_command_lines():
    packages = {wing(m) for m in import_graph() if m.startswith("engine.") and m.count(".") >= 2}
    assert packages <= set(WING_MAY_IMPORT)
    assert not any((CLIS | LIBRARY) & allowed for allowed in WING_MAY_IMPORT.values())
