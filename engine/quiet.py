"""A quiet console: the CLIs show the engine's own lines and the progress bar, not TensorFlow's logging.

TensorFlow prints in three ways that reach a CPU-only user as noise, two of them marked `E` (error):
- lines logged before absl's logging starts (oneDNN and CUDA-stub notices, "All log messages before
  absl::InitializeLog() ..."), printed while the shared libraries load, whatever `TF_CPP_MIN_LOG_LEVEL` says;
- lines logged after it (`cuInit` failing on a machine without a GPU, Grappler's remapper), which
  `TF_CPP_MIN_LOG_LEVEL=3` hides;
- its Python logger's `WARNING:tensorflow:` lines (advice meant for TensorFlow's developers).
`quiet_tensorflow()` sets that variable to 3 (unless the user set it: their level is kept), imports TensorFlow with
file descriptor 2 pointed at a temporary file, which is replayed if the import fails (so a broken install still says
why), and lets TensorFlow's Python logger print errors only. `--verbose`, or `TF_CPP_MIN_LOG_LEVEL=0`, leaves
everything as TensorFlow prints it. Imports nothing heavy itself.
"""

import os
import sys

from safeio import capture_fd2  # noqa: F401  (re-exported: the fd-2 capture is written once, in safeio)


def quiet_tensorflow(verbose: bool = False) -> None:
    """Silences TensorFlow's logging for this process (and its C++ logging in its children), unless `verbose` or the
    user asked for all of it (`TF_CPP_MIN_LOG_LEVEL=0`); a level the user set is kept. Call it before anything
    imports TensorFlow; afterwards it changes only the variable."""
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    if verbose or (level is not None and level.strip() in ("", "0")):
        return
    if level is None:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" in sys.modules:
        return
    captured = bytearray()
    try:
        with capture_fd2(captured):
            import tensorflow as tf  # (loads the C++ libraries while their start-up lines go to `captured`)
    except BaseException:
        sys.stderr.write(captured.decode(errors="replace"))  # a broken install still says why
        raise
    tf.get_logger().setLevel("ERROR")


def jupyter_stream(stream) -> bool:
    """Whether `stream` (sys.stdout, sys.stderr) is a Jupyter kernel's: ipykernel's OutStream, which sends what is
    written to it to the cell's output (its file descriptor is the server's log, not the cell)."""
    return type(stream).__module__.startswith("ipykernel")
