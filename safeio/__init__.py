"""Small facts every part of the project needs the same way, with no dependency (the numpy-only runtime imports this
too): whether a process is alive, a text as any console can print it, a file replaced whole, and file descriptor 2
(where C++ libraries print, past sys.stderr) captured or filtered."""

import contextlib
import os
import sys
import tempfile
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether process `pid` exists (this process counts; another user's, or a number no process can have, is
    taken as alive, so whatever it names is left alone)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def printable(text: str, *, one_line: bool = False) -> str:
    """`text` as it can be printed on any console or written as UTF-8: a path's bytes that are not UTF-8 (which
    Python holds as lone surrogates) are written as `\\xff` escapes instead of failing; with `one_line`, control
    characters (a newline in a file name) are escaped too, so a message stays one line."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if one_line and not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text


def umask() -> int:
    """This process's umask (read by setting it and putting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def replace_file(path: str | Path, data: bytes) -> Path:
    """Writes `data` to a new file beside `path` and renames it over `path`: never through an existing file or a
    symlink there, and never a half-written `path` (the mode is what a plain open() would have given)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def capture_fd2(into: bytearray):
    """Points file descriptor 2 at a temporary file for the block; what was written there is appended to `into`
    when the block ends, also when it raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            into.extend(captured.read())


@contextlib.contextmanager
def fd2_without(*prefixes: bytes):
    """File descriptor 2 for the block, less the lines that start with one of `prefixes` (a library's notices);
    every other line is passed on when the block ends."""
    captured = bytearray()
    try:
        with capture_fd2(captured):
            yield
    finally:
        kept = [line for line in bytes(captured).splitlines(keepends=True) if not line.startswith(prefixes)]
        if kept:
            sys.stderr.write(b"".join(kept).decode(errors="replace"))
            sys.stderr.flush()
