"""The exceptions that CLIs turn into a single-line message and a non-zero exit."""

import sys
from collections.abc import Callable


class UserError(Exception):
    """A problem with the user's input or environment: the message names it and says how to fix it.

    CLIs catch it and print `error: <message>` on one line, without a traceback.
    """


class Stopped(Exception):
    """The run stopped on a signal after saving a checkpoint; `code` is the exit status (128 + the signal)."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def first_line(e: BaseException, limit: int = 160) -> str:
    """The first line of `e`'s message, cut to `limit` characters (its type's name when the message is empty): what
    a one-line error quotes of an exception from a library."""
    text = str(e).strip()
    return text.splitlines()[0][:limit] if text else type(e).__name__


def run_cli(main: Callable[[], int | None]) -> None:
    """Runs `main`, turning a UserError into one line on stderr and exit status 2."""
    try:
        code = main()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except Stopped as e:
        print(str(e), file=sys.stderr)
        sys.exit(e.code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
