"""Snapshots of a directory tree, so "nothing else changed" is one assertion in a test.

    before = snapshot(tmp_path)
    run_the_command()
    assert_unchanged(before, snapshot(tmp_path), allowed={"out.onnx", "out.onnx.json"})

A snapshot maps each path under the root (relative, with "/" separators) to what identifies its contents: for a regular
file its size, mtime_ns and sha256; for a symlink its target (the link is not followed); for a directory only that it
is one. `allowed` names the paths that may appear, change or go; a name ending in "/" (or a glob with "*") allows a
whole subtree or pattern.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Entry:
    """What a snapshot records of one path: `kind` is "file", "dir", "symlink" or "other"."""

    kind: str
    size: int = 0
    mtime_ns: int = 0
    sha256: str = ""
    target: str = ""


def _entry(path: str) -> Entry:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return Entry("symlink", target=os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return Entry("dir")
    if stat.S_ISREG(st.st_mode):
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        except PermissionError:
            digest.update(b"<unreadable>")
        return Entry("file", st.st_size, st.st_mtime_ns, digest.hexdigest())
    return Entry("other", mtime_ns=st.st_mtime_ns)


def snapshot(root: str | os.PathLike) -> dict[str, Entry]:
    """Every path under `root` (not `root` itself), relative to it, with its Entry; symlinks are recorded, not
    followed. A missing `root` gives an empty snapshot."""
    root = os.fspath(root)
    out: dict[str, Entry] = {}
    if not os.path.isdir(root):
        return out
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            path = os.path.join(directory, name)
            out[os.path.relpath(path, root).replace(os.sep, "/")] = _entry(path)
    return out


def _allowed(path: str, allowed: Iterable[str]) -> bool:
    for pattern in allowed:
        pattern = pattern.replace(os.sep, "/")
        if pattern.endswith("/"):
            if path == pattern[:-1] or path.startswith(pattern):
                return True
        elif any(c in pattern for c in "*?["):
            if fnmatch.fnmatchcase(path, pattern):
                return True
        elif path == pattern:
            return True
    return False


def diff(before: dict[str, Entry], after: dict[str, Entry]) -> dict[str, list[str]]:
    """The paths added, removed and changed between two snapshots (directories' mtimes are not compared)."""
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(p for p in set(before) & set(after) if before[p] != after[p])
    return {"added": added, "removed": removed, "changed": changed}


def assert_unchanged(
    before: dict[str, Entry], after: dict[str, Entry], allowed: Iterable[str | os.PathLike] = ()
) -> None:
    """Fails naming every path that appeared, went or changed between `before` and `after`, except those `allowed`
    (relative paths; "dir/" allows a subtree, "*.png" a pattern)."""
    allowed = [os.fspath(a) for a in allowed]
    problems = {kind: [p for p in paths if not _allowed(p, allowed)] for kind, paths in diff(before, after).items()}
    problems = {kind: paths for kind, paths in problems.items() if paths}
    assert not problems, f"the tree changed outside what was allowed: {problems}"


def take(root: str | os.PathLike) -> tuple[Path, dict[str, Entry]]:
    """`(root, snapshot(root))`, for a test that snapshots several roots."""
    return Path(root), snapshot(root)
