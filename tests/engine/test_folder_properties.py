"""Property-based tests (Hypothesis) of the own-folder path (issue 35, "Beyond the list"): random small trees of
images (class sub-folders or flat, nested folders, symbolic links to files and to folders inside and outside the tree,
modes L/RGB/RGBA/P/I;16, sizes from 1 pixel, names with spaces and non-ASCII letters), planned, trained for a step,
then changed and resumed. The contract: a run trains on exactly what it records (the files and classes the tree
holds, by the documented walk: sorted, each real folder once), or the command says one line and exits 2 with
nothing written; a resume on a changed tree is that one line, on an unchanged one it trains.

The tree is modelled here (`Tree`) and the expected file list comes from the model, not from the engine's walker.
Planning (what a new run records, the header summary) is cheap and runs many examples; training runs TensorFlow, so
the default tier trains a few trees and the slow tier more. The examples are derandomized (the same every run).
"""

import contextlib
import io
import itertools
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from engine.data import image_folder
from engine.errors import UserError, run_cli
from engine.run import data_record
from engine.train import main as train_main
from tests.treesnap import assert_unchanged, snapshot

SETTINGS = dict(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
EXTENSIONS = [".png", ".PNG", ".jpg", ".jpeg", ".webp"]  # what the trees' image files are named
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")  # what a run reads, in any case (docs/folders.md)
MODES = ["L", "RGB", "RGBA", "P", "I;16"]

# ---- the model of a tree ----


@dataclass
class Node:
    """A folder (`children`), an image file (`mode`, `size`), another file, or a link (`to`: a path in the model,
    ("tree", ...) or ("outside", ...))."""

    kind: str  # "dir", "image", "other", "link"
    children: dict = field(default_factory=dict)
    mode: str = "L"
    size: tuple = (4, 4)
    seed: int = 0
    to: tuple = ()


def resolve(roots: dict, node: Node, hops: int = 0) -> Node | None:
    """What a link points at (None when its target is gone), or the node itself."""
    while node is not None and node.kind == "link":
        root, *parts = node.to
        node = roots[root]
        for part in parts:
            node = node.children.get(part) if node is not None and node.kind == "dir" else None
    return node


def expected_files(roots: dict) -> list[str]:
    """The image files a run of the tree trains on, as the engine documents its walk: a folder's files in name order,
    then its sub-folders' in name order, links followed, each real folder once; files with an image extension."""
    seen, out = set(), []

    def visit(node: Node, rel: tuple) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        names = sorted(node.children)
        for name in names:
            target = resolve(roots, node.children[name])
            if target is not None and target.kind != "dir" and name.lower().endswith(IMAGE_EXTENSIONS):
                out.append("/".join((*rel, name)))
        for name in names:
            target = resolve(roots, node.children[name])
            if target is not None and target.kind == "dir":
                visit(target, (*rel, name))

    visit(roots["tree"], ())
    return out


def expected_classes(files: list[str]) -> list[str]:
    if not files or any("/" not in f for f in files):
        return []
    return sorted({f.split("/", 1)[0] for f in files})


def write(roots: dict, base: Path) -> None:
    """Makes the model on disk under base/tree and base/outside (links as symbolic links, relative to nothing)."""
    for root, node in roots.items():
        _write(node, base / root, base)


def _write(node: Node, path: Path, base: Path) -> None:
    if node.kind == "dir":
        path.mkdir()
        for name, child in node.children.items():
            _write(child, path / name, base)
    elif node.kind == "link":
        path.symlink_to(base.joinpath(*node.to))
    elif node.kind == "other":
        path.write_text("not an image\n")
    else:
        image(node).save(path, format={".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}[ext(path)])


def ext(path: Path) -> str:
    return path.suffix.lower()


def image(node: Node) -> Image.Image:
    rng = np.random.default_rng(node.seed)
    w, h = node.size
    if node.mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
    rgb = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    return rgb.convert(node.mode) if node.mode != "P" else rgb.quantize(8)


# ---- random trees ----

names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="/\\"),
    min_size=1,
    max_size=6,
).filter(lambda n: n not in (".", "..") and len(n.encode()) < 200)


@st.composite
def images(draw, count):
    """{name: image Node}: modes fit their format (a JPEG is L or RGB, a WebP RGB or RGBA)."""
    out = {}
    for _ in range(count):
        suffix = draw(st.sampled_from(EXTENSIONS))
        modes = {".jpg": ["L", "RGB"], ".jpeg": ["L", "RGB"], ".webp": ["RGB", "RGBA"]}.get(suffix.lower(), MODES)
        node = Node(
            "image",
            mode=draw(st.sampled_from(modes)),
            size=(draw(st.integers(1, 24)), draw(st.integers(1, 24))),
            seed=draw(st.integers(0, 2**16)),
        )
        out[draw(names) + suffix] = node
    return out


@st.composite
def trees(draw):
    """{"tree": the folder a run is given, "outside": a folder beside it that links may point into}."""
    outside = Node("dir", {"far": Node("dir", draw(images(draw(st.integers(1, 3))))), **draw(images(1))})
    tree = Node("dir")
    if draw(st.booleans()):  # class sub-folders
        for name in draw(st.lists(names, min_size=1, max_size=3, unique=True)):
            folder = Node("dir", draw(images(draw(st.integers(1, 3)))))
            if draw(st.integers(0, 3)) == 0:
                folder.children[draw(names)] = Node("dir", draw(images(draw(st.integers(0, 2)))))
            tree.children.setdefault(name, folder)
    else:
        tree.children.update(draw(images(draw(st.integers(1, 4)))))
    if draw(st.integers(0, 3)) == 0:
        tree.children.setdefault(draw(names) + ".txt", Node("other"))
    for _ in range(draw(st.integers(0, 2))):  # links: to a folder or a file, inside the tree or outside it
        inside = [(n,) for n, c in tree.children.items() if c.kind == "dir"]
        target = draw(
            st.sampled_from(
                [("outside", "far"), ("outside", *sorted(outside.children)[-1:]), *[("tree", *p) for p in inside]]
            )
        )
        suffix = ".png" if resolve({"tree": tree, "outside": outside}, Node("link", to=target)).kind != "dir" else ""
        where = tree
        if draw(st.booleans()) and inside:
            where = tree.children[draw(st.sampled_from(inside))[0]]
        where.children.setdefault(draw(names) + suffix, Node("link", to=target))
    return {"tree": tree, "outside": outside}


def made(roots: dict) -> Path:
    base = Path(tempfile.mkdtemp(prefix="folder_tree "))
    write(roots, base)
    return base


# ---- planning: what a new run records, what engine.train picks a shape from ----


def check_plan(roots: dict) -> None:
    base = made(roots)
    try:
        files = expected_files(roots)
        before = snapshot(base)
        try:
            record = data_record.take("image_folder", str(base / "tree"))
            summary = image_folder.summarise(base / "tree")
        except UserError as e:
            assert "\n" not in str(e)
            assert not files, f"refused a tree with images {files}: {e}"
            return
        finally:
            assert_unchanged(before, snapshot(base))
        assert [f[0] for f in record["files"]] == files
        assert record["images"] == summary.files == len(files)
        assert record["class_names"] == expected_classes(files) == list(summary.class_names)
        colours = [node.mode for node in _listed_nodes(roots, files)]
        assert summary.channels == (3 if any(m in ("RGB", "RGBA") for m in colours) else summary.channels)
        if all(m in ("L", "I;16") for m in colours):
            assert summary.channels == 1
        for path in files:  # every listed image decodes
            pixels = image_folder.decode(base / "tree" / path, (4, 4, summary.channels))
            assert pixels.shape == (4, 4, summary.channels) and pixels.dtype == np.uint8
    finally:
        shutil.rmtree(base)


def _listed_nodes(roots: dict, files: list[str]) -> list[Node]:
    out = []
    for path in files:
        node = roots["tree"]
        for part in path.split("/"):
            node = resolve(roots, node.children[part])
        out.append(node)
    return out


@settings(max_examples=30, **SETTINGS)
@given(trees())
def test_any_tree_is_recorded_as_the_images_it_holds(roots):
    check_plan(roots)


@pytest.mark.slow
@settings(max_examples=400, **SETTINGS)
@given(trees())
def test_any_tree_is_recorded_as_the_images_it_holds_many(roots):
    check_plan(roots)


# ---- a step of training, a change, a resume ----

CHANGES = ["none", "other file", "add", "remove", "rename", "rename class", "touch"]


def change(roots: dict, base: Path, how: str, pick: int) -> bool:
    """Changes the tree on disk and in the model; returns whether the image set a run records changed."""
    before = expected_files(roots)
    tree = roots["tree"]
    folders = [((), tree)] + [((n,), c) for n, c in sorted(tree.children.items()) if c.kind == "dir"]
    rel, folder = folders[pick % len(folders)]
    images_here = sorted(n for n, c in folder.children.items() if c.kind == "image")
    if how == "other file":
        folder.children["zz notes.txt"] = Node("other")
        (base / "tree" / Path(*rel) / "zz notes.txt").write_text("notes\n")
    elif how == "add":
        folder.children["zz new.png"] = Node("image", size=(3, 3), seed=7)
        image(folder.children["zz new.png"]).save(base / "tree" / Path(*rel) / "zz new.png")
    elif how in ("remove", "rename", "touch") and images_here:
        name = images_here[pick % len(images_here)]
        path = base / "tree" / Path(*rel) / name
        if how == "remove":
            del folder.children[name]
            path.unlink()
        elif how == "rename":
            folder.children["zz " + name] = folder.children.pop(name)
            path.rename(path.with_name("zz " + name))
        else:
            stat = path.stat()
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
            return any(node is folder.children[name] for node in _listed_nodes(roots, before))
    elif how == "rename class" and rel:
        tree.children["zz " + rel[0]] = tree.children.pop(rel[0])
        (base / "tree" / rel[0]).rename(base / "tree" / ("zz " + rel[0]))
        for node in _links(roots):  # links into the renamed folder now dangle, as they do on disk
            if node.to[:2] == ("tree", rel[0]):
                node.to = ("tree", "\0gone")
    return expected_files(roots) != before


def _links(roots: dict):
    stack = list(roots.values())
    while stack:
        node = stack.pop()
        if node.kind == "link":
            yield node
        stack.extend(node.children.values())


def train(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            run_cli(lambda: train_main([str(a) for a in argv]))
        except SystemExit as done:
            code = done.code
    return code, out.getvalue(), err.getvalue()


def check_run(roots: dict, how: str, pick: int) -> None:
    base = made(roots)
    cwd = os.getcwd()
    os.chdir(base)
    try:
        files, run = expected_files(roots), base / "run"
        before = snapshot(base)
        argv = ["--data-dir", base / "tree", "--image-size", "8", "--batch-size", "2", "--steps", "1", "--out-dir", run]
        code, out, err = train(argv)
        if code != 0:  # refused: one line, nothing written
            assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
            assert_unchanged(before, snapshot(base))
            return
        assert files, "trained a tree without images"
        data = json.loads((run / "config.json").read_text())["data"]
        listed = [f[0] for f in json.loads((run / "data_files.json").read_text())["files"]]
        assert listed == files and data["images"] == len(files)
        assert data["class_names"] == expected_classes(files)
        assert f": {len(files)} images, batch 2" in out, out  # the start line: all of them read

        changed = change(roots, base, how, pick)
        before = snapshot(base)
        code, out, err = train(["--resume", "--out-dir", run, "--steps", "2"])
        if changed:
            assert code == 2 and err.count("\n") == 1, err
            assert err.startswith("error: --resume ") and "are not what the run trained on" in err, err
            assert_unchanged(before, snapshot(base))
        else:
            assert code == 0, err
            assert "resumed from" in out and (run / "checkpoints" / "ckpt-2.index").exists()
    finally:
        os.chdir(cwd)
        shutil.rmtree(base)


@settings(max_examples=3, **SETTINGS)
@given(trees(), st.sampled_from(CHANGES), st.integers(0, 10))
def test_a_run_trains_on_what_it_records_and_resumes_only_on_the_same_images(roots, how, pick):
    check_run(roots, how, pick)


@pytest.mark.slow
@settings(max_examples=30, **SETTINGS)
@given(trees(), st.sampled_from(CHANGES), st.integers(0, 10))
def test_a_run_trains_on_what_it_records_and_resumes_only_on_the_same_images_many(roots, how, pick):
    check_run(roots, how, pick)


def test_the_model_walks_as_documented():
    """The model's own walk on a hand-made tree: files before folders, names sorted, a real folder once."""
    a = Node("dir", {"x.png": Node("image")})
    tree = Node(
        "dir", {"a": a, "0link": Node("link", to=("tree", "a")), "b.PNG": Node("image"), "c.txt": Node("other")}
    )
    roots = {"tree": tree, "outside": Node("dir")}
    assert expected_files(roots) == ["b.PNG", "0link/x.png"]
    assert expected_classes(expected_files(roots)) == []
    assert list(itertools.islice(_links(roots), 1))[0].to == ("tree", "a")
