"""The training progress bar: tqdm.auto's, a widget in a Jupyter kernel (with ipywidgets installed) and text
elsewhere; a kernel without ipywidgets gets the text bar, without tqdm's warning about it.

It redraws every half second where someone watches it (a terminal, a notebook's cell), every 30 s into a file or a
pipe, so a log of a long run stays short.
"""

import sys
import warnings

from tqdm import TqdmWarning

from engine.quiet import jupyter_stream

with warnings.catch_warnings():
    warnings.simplefilter("ignore", TqdmWarning)  # "IProgress not found": no ipywidgets, the text bar is used
    from tqdm.auto import tqdm


def watched() -> bool:
    """Whether someone watches the console: stderr is a terminal, or this process is a Jupyter kernel (whose
    streams are the cell's output)."""
    stderr = sys.stderr
    if jupyter_stream(stderr):
        return True
    try:
        return stderr.isatty()
    except (AttributeError, ValueError):  # replaced by an object without isatty, or closed
        return False


def progress_bar(total: int, initial: int = 0) -> tqdm:
    """A bar counting steps from `initial` to `total`."""
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, mininterval=0.5 if watched() else 30)
