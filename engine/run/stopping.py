"""Pre-emption: SIGTERM and SIGINT ask the loop to stop at the next step boundary, save, and exit.

A handler only sets a flag; the eager loop reads it between calls of the traced step, saves a checkpoint at the
current step and raises `engine.errors.Stopped`, which the CLI turns into its message and exit status (128 + the
signal), and engine.fit into the run it returns (Jupyter's stop button is a SIGINT). A second signal while the
checkpoint is written is noted and otherwise ignored, so it cannot cut the save short. The notes go to stderr: in a
Jupyter kernel, to the cell.
"""

import os
import signal
import sys
import threading

from engine.quiet import jupyter_stream


class StopSignals:
    """Context manager: while inside, SIGTERM/SIGINT set `signum` instead of killing the process.

    Outside the main thread (where Python cannot install handlers) it does nothing. With `until_exit` (a CLI, which
    exits right after), once a stop was asked for, leaving keeps noting further signals rather than restoring the
    default handlers: a third Ctrl-C in a row must not interrupt the unwinding with a KeyboardInterrupt.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, *, until_exit: bool = False):
        self.signum: int | None = None
        self.until_exit = until_exit
        self._previous = {}
        self._arrivals = None  # (read end, write end, previous wakeup fd) of the pipe that records arrival order

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
            # Signals that arrive while the traced step runs (in C++) are handled together afterwards, in the order
            # of their numbers, so SIGINT would win over an earlier SIGTERM. The wakeup fd receives each signal's
            # number as it arrives: the first one sets the exit status.
            read, write = os.pipe()
            os.set_blocking(read, False)
            os.set_blocking(write, False)
            try:
                previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
            except ValueError:
                os.close(read)
                os.close(write)
            else:
                self._arrivals = (read, write, previous)
        return self

    def __exit__(self, *exc) -> None:
        if not (self.until_exit and self.requested):
            for s, handler in self._previous.items():
                signal.signal(s, handler)
        self._previous = {}
        if self._arrivals is not None:
            read, write, previous = self._arrivals
            self._arrivals = None
            signal.set_wakeup_fd(previous)
            os.close(read)
            os.close(write)

    def _first_arrived(self) -> int | None:
        """The first of SIGTERM / SIGINT to arrive since entering, from the wakeup pipe (None when unknown)."""
        if self._arrivals is None:
            return None
        try:
            arrived = os.read(self._arrivals[0], 256)
        except OSError:
            return None
        return next((n for n in arrived if n in self.SIGNALS), None)

    def _handle(self, signum, frame) -> None:
        # os.write, not print: the handler may run while the main thread is inside a print to stderr, and a
        # reentrant print raises ("Exception ignored ... RuntimeError: reentrant call").
        if self.signum is None:
            self.signum = self._first_arrived() or signum
            name = signal.Signals(self.signum).name
            _write(f"\n{name}: stopping at the end of the current steps to save a checkpoint\n")
        else:
            name = signal.Signals(signum).name
            _write(f"{name} again: still saving; the run stops as soon as the checkpoint is written\n")

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum or 0)


def _write(text: str) -> None:
    if jupyter_stream(sys.stderr):  # a Jupyter kernel: the note belongs in the cell, not in the server's log
        try:
            sys.stderr.write(text)  # ipykernel's stream buffers under a re-entrant lock: safe from a handler
            return
        except (OSError, ValueError, RuntimeError):
            pass
    try:
        os.write(sys.stderr.fileno(), text.encode(errors="replace"))
    except (OSError, ValueError, AttributeError):  # stderr replaced by an object without a descriptor (a capture)
        try:
            print(text, end="", file=sys.stderr, flush=True)
        except (OSError, ValueError, RuntimeError):
            pass  # the note is lost; the stop is not
