"""A quiet console: the CLIs show the engine's own lines and the progress bar, not TensorFlow's C++ logging.

TensorFlow prints in two ways that reach a CPU-only user as noise, two of them marked `E` (error):
- lines logged before absl's logging starts (oneDNN and CUDA-stub notices, "All log messages before
  absl::InitializeLog() ..."), printed while the shared libraries load, whatever `TF_CPP_MIN_LOG_LEVEL` says;
- lines logged after it (`cuInit` failing on a machine without a GPU, Grappler's remapper), which
  `TF_CPP_MIN_LOG_LEVEL=3` hides.
`quiet_tensorflow()` sets that variable and imports TensorFlow with file descriptor 2 pointed at a temporary file,
which is replayed if the import fails (so a broken install still says why). `--verbose`, or a
`TF_CPP_MIN_LOG_LEVEL` the user set, leaves everything as TensorFlow prints it. Imports nothing heavy itself.
"""

import os
import sys
import tempfile


def quiet_tensorflow(verbose: bool = False) -> None:
    """Silences TensorFlow's C++ logging for this process (and its children), unless `verbose` or the user chose a
    level. Call it before anything imports TensorFlow; afterwards it changes only the variable."""
    if verbose or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401  (loads the C++ libraries while their start-up lines go to `captured`)
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
