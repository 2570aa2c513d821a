"""The training GIF: the epochs' sample grids, in order, as `samples/progress.gif` (as the Keras tutorials make).

A run of a small folder has an epoch every few seconds, so the GIF holds at most MAX_FRAMES of the grids (evenly
spread, the first and the last always in), and the loop rebuilds it only when `rebuild_due`: rebuilding costs about
80 ms a frame, and rebuilding every grid of a 3,786-image folder after every epoch took 40% of a 30-minute run.
"""

from pathlib import Path

import numpy as np

GIF_NAME = "progress.gif"
FRAME_MS = 400  # per frame; the last frame is held longer so the result can be seen
LAST_FRAME_MS = 2000
MAX_FRAMES = 100
MIN_REBUILD_INTERVAL_S = 30.0  # during a run, at most one rebuild per this many seconds ...
MAX_REBUILD_SHARE = 0.05  # ... and per 1 / this times the last rebuild's cost (rebuilding takes <= 5% of the time)


def rebuild_due(now: float, last_rebuild: float | None, last_cost_s: float) -> bool:
    """Whether the loop rebuilds the GIF at an epoch's end: the first time, then once enough time has passed."""
    if last_rebuild is None:
        return True
    return now - last_rebuild >= max(MIN_REBUILD_INTERVAL_S, last_cost_s / MAX_REBUILD_SHARE)


def shown(frames: list) -> list:
    """At most MAX_FRAMES of `frames`, evenly spread, the first and the last always in."""
    if len(frames) <= MAX_FRAMES:
        return list(frames)
    picks = np.unique(np.round(np.linspace(0, len(frames) - 1, MAX_FRAMES)).astype(int))
    return [frames[i] for i in picks]


def _frame(path: Path):
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("L" if image.mode == "L" else "RGB")


def write_progress_gif(samples_dir: Path) -> Path | None:
    """Rebuilds `samples_dir/progress.gif` from its `epoch_*.png` grids (`shown`; so a resumed run extends it).

    Written to a temporary name and renamed, so a kill mid-write leaves the previous GIF whole.
    Returns:
      The GIF's path, or None when there is no epoch grid yet.
    """

    frames = shown(sorted(Path(samples_dir).glob("epoch_*.png")))
    if not frames:
        return None
    images = [_frame(f) for f in frames]
    durations = [FRAME_MS] * (len(images) - 1) + [LAST_FRAME_MS]
    target = Path(samples_dir) / GIF_NAME
    tmp = target.with_suffix(".tmp.gif")
    images[0].save(tmp, save_all=True, append_images=images[1:], duration=durations, loop=0)
    tmp.replace(target)
    return target
