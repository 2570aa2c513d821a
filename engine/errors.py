"""The exceptions that CLIs turn into a single-line message and a non-zero exit."""

import os
import shlex
import signal
import sys
from collections.abc import Callable

from safeio import printable  # noqa: F401  (re-exported: the engine's messages use it from here)


class UserError(Exception):
    """A problem with the user's input or environment: the message names it and says how to fix it.

    CLIs catch it and print `error: <message>` on one line, without a traceback; the Python API (engine.api) raises
    it, and IPython (a Jupyter cell) shows that same line in place of the traceback (`_render_traceback_`).
    """

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for it instead of a traceback: the line the command would print."""
        return [f"error: {self}"]


class Stopped(Exception):
    """The run stopped on a signal after saving a checkpoint; `code` is the exit status (128 + the signal), `run_dir`
    the run (engine.fit returns it rather than raising)."""

    def __init__(self, message: str, code: int, run_dir=None):
        super().__init__(message)
        self.code = code
        self.run_dir = run_dir


def first_line(e: BaseException, limit: int = 160) -> str:
    """The first line of `e`'s message, cut to `limit` characters (its type's name when the message is empty): what
    a one-line error quotes of an exception from a library."""
    text = str(e).strip()
    return text.splitlines()[0][:limit] if text else type(e).__name__


def say(text: str, file=None) -> None:
    """Prints one line (stderr by default), whatever characters it holds (`printable`)."""
    file = file or sys.stderr
    line = printable(text)
    try:
        print(line, file=file, flush=True)
    except UnicodeEncodeError:  # a console in ASCII or Latin-1
        encoding = getattr(file, "encoding", None) or "ascii"
        print(line.encode(encoding, "backslashreplace").decode(encoding), file=file, flush=True)


def _ignore_signals() -> None:
    """After a signal stopped the command, only its last line and the exit remain: a further SIGINT / SIGTERM (a
    user pressing Ctrl-C again) must not turn them into a KeyboardInterrupt traceback or a death by signal (exit
    -2 instead of 130)."""
    for s in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(s, signal.SIG_IGN)
        except ValueError:  # not the main thread
            pass


def run_cli(main: Callable[[], int | None]) -> None:
    """Runs `main`, turning a UserError into one line on stderr and exit status 2, a Stopped into its message and
    code, and a Ctrl-C outside the training loop into `interrupted` and 130."""
    try:
        code = main()
    except UserError as e:
        say(f"error: {e}")
        sys.exit(2)
    except Stopped as e:
        _ignore_signals()
        say(str(e))
        sys.exit(e.code)
    except KeyboardInterrupt:
        _ignore_signals()
        say("interrupted")
        sys.exit(130)
    sys.exit(code or 0)


def printable_path(path) -> str:
    """`path` for a one-line message: bytes that are not UTF-8 and control characters escaped."""
    return printable(os.fspath(path), one_line=True)


def shell_path(path) -> str:
    """`path` quoted for a shell, as the commands a message prints must survive copy and paste (spaces, quotes);
    a name with control characters or bytes that are not UTF-8 is written in bash's $'...' form, byte for byte."""
    text = os.fspath(path)
    if printable_path(text) == text:
        return shlex.quote(text)
    raw = os.fsencode(text)
    return "$'" + "".join(chr(b) if 32 <= b < 127 and b not in b"\\'" else f"\\x{b:02x}" for b in raw) + "'"
