"""Pre-emption: SIGTERM and SIGINT ask the loop to stop at the next step boundary, save, and exit.

A handler only sets a flag; the eager loop reads it between calls of the traced step, saves a checkpoint at the
current step and raises `engine.errors.Stopped`, which the CLI turns into its message and exit status (128 + the
signal). A second signal while the checkpoint is written is noted and otherwise ignored, so it cannot cut the save
short.
"""

import signal
import sys
import threading


class StopSignals:
    """Context manager: while inside, SIGTERM/SIGINT set `signum` instead of killing the process.

    Outside the main thread (where Python cannot install handlers) it does nothing.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.signum: int | None = None
        self._previous = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum
            print(
                f"\n{signal.Signals(signum).name}: stopping at the end of the current steps to save a checkpoint",
                file=sys.stderr,
                flush=True,
            )
        else:
            print(
                f"{signal.Signals(signum).name} again: still saving; the run stops as soon as the checkpoint is "
                "written",
                file=sys.stderr,
                flush=True,
            )

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum or 0)
