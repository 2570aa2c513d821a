"""The training GIF: every epoch's sample grid, in order, as `samples/progress.gif` (as the Keras tutorials make)."""

from pathlib import Path

GIF_NAME = "progress.gif"
FRAME_MS = 400  # per epoch; the last frame is held longer so the result can be seen
LAST_FRAME_MS = 2000


def _frame(path: Path):
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("L" if image.mode == "L" else "RGB")


def write_progress_gif(samples_dir: Path) -> Path | None:
    """Rebuilds `samples_dir/progress.gif` from its `epoch_*.png` grids (so a resumed run extends it).

    Written to a temporary name and renamed, so a kill mid-write leaves the previous GIF whole.
    Returns:
      The GIF's path, or None when there is no epoch grid yet.
    """

    frames = sorted(Path(samples_dir).glob("epoch_*.png"))
    if not frames:
        return None
    images = [_frame(f) for f in frames]
    durations = [FRAME_MS] * (len(images) - 1) + [LAST_FRAME_MS]
    target = Path(samples_dir) / GIF_NAME
    tmp = target.with_suffix(".tmp.gif")
    images[0].save(tmp, save_all=True, append_images=images[1:], duration=durations, loop=0)
    tmp.replace(target)
    return target
