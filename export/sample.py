"""Sample grids and latent interpolations from an exported .onnx/.tflite generator, through export.runtime only.

Usage:
  python -m export.sample MODEL [--n 64] [--labels 0,1,...] [--seed S] [--out grid.png] [--scale K]
  python -m export.sample MODEL --interpolate [--steps 10] [--labels ...] [--seed S] [--out strip.png] [--gif a.gif]

A conditional generator's grid holds one class per row (`--labels`, default every class) and the same latent in each
column, so a column shows one z across classes. `--interpolate` walks from one latent point to another (spherical
interpolation for normal latents, which keeps the walk at typical norms; linear for uniform ones): a strip PNG, one
row per label, and with `--gif` an animation that goes there and back. Imports numpy, Pillow and the runtime's
backend (onnxruntime or LiteRT), never TensorFlow.
"""

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from export.runtime import Generator, GeneratorFileError, GeneratorInputError, max_threads
from imagegrid import make_grid, save_png, to_uint8
from safeio import fd2_without, printable, umask

MAX_SCALE = 64  # --scale: a 64x grid of 64 28x28 images is already 15,000 pixels wide
MAX_IMAGES = 10_000  # --n / --steps in one picture
MAX_MEMORY = 2 * 10**9  # bytes a request may need (images, grid, enlarged copy, GIF frames): checked before the work
PAD = 2


def sample_grid(g: Generator, *, n: int = 64, labels=None, seed: int | None = 0, pad: int = 2) -> np.ndarray:
    """A uint8 [H', W', C] grid: conditional generators one row per label (default all classes), else n samples.

    Raises:
      GeneratorInputError: labels given to an unconditional generator, or a label out of range.
    """
    if not g.num_classes:
        if labels is not None:
            raise GeneratorInputError("this generator is unconditional; drop --labels")
        return make_grid(g.sample_uint8(n, seed=seed), pad=pad)
    labels = in_range(g, list(range(g.num_classes)) if labels is None else list(labels))
    cols = max(1, math.ceil(n / len(labels)))
    z = np.tile(g.latents(cols, seed=seed), (len(labels), 1))  # row r, column c: z[c] with labels[r]
    images = g(z, np.repeat(np.asarray(labels, np.int64), cols))
    return make_grid(to_uint8(g.to_nhwc(images), g.output_range), cols=cols, pad=pad)


def interpolate_latents(a: np.ndarray, b: np.ndarray, steps: int, *, spherical: bool) -> np.ndarray:
    """float32 [steps, latent_dim] from a to b (both ends included); spherical: slerp by the angle between them."""
    t = np.linspace(0.0, 1.0, steps)[:, None]
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if spherical:
        cos = np.dot(a64, b64) / (np.linalg.norm(a64) * np.linalg.norm(b64))
        omega = np.arccos(np.clip(cos, -1.0, 1.0))
        if omega > 1e-6:  # parallel ends: slerp is undefined, lerp is the same path
            return ((np.sin((1 - t) * omega) * a64 + np.sin(t * omega) * b64) / np.sin(omega)).astype(np.float32)
    return ((1 - t) * a64 + t * b64).astype(np.float32)


def interpolation_frames(g: Generator, *, steps: int = 10, labels=None, seed: int | None = 0) -> np.ndarray:
    """uint8 [rows, steps, H, W, C]: one row per label (one row for unconditional generators), the same latent walk."""
    a, b = g.latents(2, seed=seed)
    walk = interpolate_latents(a, b, steps, spherical=g.meta["latent_distribution"] == "normal")
    if not g.num_classes:
        if labels is not None:
            raise GeneratorInputError("this generator is unconditional; drop --labels")
        rows = [g(walk)]
    else:
        labels = in_range(g, list(range(g.num_classes)) if labels is None else list(labels))
        rows = [g(walk, np.full(steps, label)) for label in labels]
    return np.stack([to_uint8(g.to_nhwc(images), g.output_range) for images in rows])


def latent_walk(g: Generator, *, steps: int = 10, labels=None, seed: int | None = 0) -> np.ndarray:
    """A latent walk as one uint8 [H', W', C] strip: a row per label (one row for an unconditional generator), a
    column per point of the walk (`interpolation_frames`), as `--interpolate` writes it."""
    return strip(interpolation_frames(g, steps=steps, labels=labels, seed=seed))


def strip(frames: np.ndarray, pad: int = PAD) -> np.ndarray:
    """frames [rows, steps, H, W, C] tiled into one uint8 [H', W', C] image, a row of `steps` per row."""
    rows, steps, h, w, c = frames.shape
    return make_grid(frames.reshape(rows * steps, h, w, c), cols=steps, pad=pad)


def save_gif(frames: np.ndarray, path, *, pad: int = 2, ms_per_frame: int = 100) -> Path:
    """Writes frames [rows, steps, H, W, C] as an animated GIF (rows stacked vertically) that plays there and back."""
    from PIL import Image

    columns = [make_grid(frames[:, t], cols=1, pad=pad) for t in range(frames.shape[1])]
    columns += columns[-2:0:-1]  # back again, without repeating the ends
    images = [Image.fromarray(c[..., 0] if c.shape[-1] == 1 else c) for c in columns]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)
    return path


def upscale(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement of an [H, W, C] image (28-pixel samples are small on screen)."""
    return image if scale == 1 else image.repeat(scale, axis=0).repeat(scale, axis=1)


def in_range(g: Generator, labels: list[int]) -> list[int]:
    """`labels` if each is one of the generator's classes; checked on Python ints, before NumPy (whose int64 cannot
    hold 99999999999999999999: an OverflowError, not the runtime's message).

    Raises:
      GeneratorInputError: naming the range and the values given.
    """
    if any(not 0 <= v < g.num_classes for v in labels):
        raise GeneratorInputError(
            f"labels must be integers in [0, {g.num_classes}), got values from {min(labels)} to {max(labels)} "
            "(the generator's classes)"
        )
    return labels


def parse_labels(text: str) -> list[int]:
    try:
        labels = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--labels must be comma-separated integers, got {text!r}") from None
    return labels


class OptionError(ValueError):
    """An option that cannot work, or an output that cannot be written: one line, exit status 2."""


def check_outputs(args) -> None:
    """Refuses seeds and thread counts out of range, sizes that cannot fit in memory, and output paths of the wrong
    kind or in a place that cannot be written (checked before the model is read)."""
    if args.seed < 0 or args.seed >= 2**64:
        raise OptionError(f"--seed must be in [0, 2**64), got {args.seed}")
    if args.threads is not None and not 1 <= args.threads <= max_threads():
        raise OptionError(
            f"--threads must be from 1 to {max_threads()} (4 per CPU core of this machine), got {args.threads}"
        )
    if args.scale > MAX_SCALE or args.n > MAX_IMAGES or args.steps > MAX_IMAGES:
        raise OptionError(
            f"--scale is at most {MAX_SCALE}, --n and --steps at most {MAX_IMAGES:,} (the image would "
            "not fit in memory)"
        )
    for flag, path, suffix in (("--out", args.out, ".png"), ("--gif", args.gif, ".gif")):
        if path is not None and Path(path).is_dir():
            raise OptionError(f"{flag} {path} is a directory; give a file path ending in {suffix}")
        if path is not None and Path(path).suffix.lower() != suffix:
            raise OptionError(f"{flag} {path}: the file name must end in {suffix} (the format written)")
        if path is not None:
            _check_writable_place(flag, Path(path))


def _check_writable_place(flag: str, path: Path) -> None:
    """Refuses a path whose folder cannot be made or written (a file on the way, a read-only folder)."""
    folder = path.parent if str(path.parent) else Path(".")
    while not (folder.exists() or folder.is_symlink()) and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OptionError(f"{flag} {path}: {folder} is not a directory; choose another {flag}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OptionError(
            f"{flag} {path}: cannot write into {folder} (read-only or permission denied); choose another {flag}"
        )


def check_memory(g: Generator, args) -> None:
    """Refuses a request whose pictures would need more than MAX_MEMORY bytes, from the image size in the file's
    metadata, before any image is made."""
    h, w, c = g.image_shape
    rows = len(args.labels) if args.labels is not None else (g.num_classes or 1)
    if args.interpolate:
        cols = args.steps
        pixels = rows * cols * h * w * c
        # the strip and its enlarged copy; the GIF: frames, columns and Pillow's frames, each enlarged
        grid = (rows * (h + PAD) + PAD) * (cols * (w + PAD) + PAD) * c
        need = pixels * 5 + grid * (1 + args.scale**2) + (3 * pixels * args.scale**2 if args.gif else 0)
        picture = f"{(cols * (w + PAD) + PAD) * args.scale:,} x {(rows * (h + PAD) + PAD) * args.scale:,}"
        sizes = "--steps, --labels or --scale"
    else:
        if g.num_classes:
            cols = max(1, math.ceil(args.n / rows))
        else:
            cols = math.ceil(math.sqrt(args.n))
            rows = math.ceil(args.n / cols)
        pixels = rows * cols * h * w * c
        grid = (rows * (h + PAD) + PAD) * (cols * (w + PAD) + PAD) * c
        need = pixels * 5 + grid * (1 + args.scale**2)  # float32 and uint8 images, the grid, its enlarged copy
        picture = f"{(cols * (w + PAD) + PAD) * args.scale:,} x {(rows * (h + PAD) + PAD) * args.scale:,}"
        sizes = "--n, --labels or --scale"
    if need > MAX_MEMORY:
        raise OptionError(
            f"this request would need about {need / 1e9:,.1f} GB of memory (a {picture} pixel picture of "
            f"{h}x{w}x{c} images); the limit is {MAX_MEMORY / 1e9:g} GB: lower {sizes}"
        )


def write_new(outputs) -> list[Path]:
    """Writes each `(path, write)` of `outputs` by `write(tmp)` on a new file beside `path`; once every one is
    written, renames them over their paths (never writing through an existing file or symlink there, never leaving
    half a file, nor one output of two when the other cannot be written).

    Raises:
      OptionError: a place cannot be written (read-only, /proc, disk full, ...), naming it; nothing is left.
    """
    temps, mask = [], umask()
    try:
        for path, write in outputs:
            path = Path(path)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
                os.close(fd)
                temps.append((tmp, path))
                write(tmp)
                os.chmod(tmp, 0o666 & ~mask)  # as a plain open() would have made it, not mkstemp's 0600
            except OSError as e:
                raise OptionError(f"cannot write {path} ({e.strerror or e}); choose a writable place") from None
        for tmp, path in temps:
            os.replace(tmp, path)
    finally:
        for tmp, _ in temps:
            Path(tmp).unlink(missing_ok=True)
    return [path for _, path in temps]


def run(argv=None) -> list[Path]:
    """The CLI; returns the paths written. Raises the runtime's errors for a bad file or labels."""
    parser = argparse.ArgumentParser(prog="python -m export.sample", description=__doc__.split("\n")[0])
    parser.add_argument("model", help="an exported .onnx or .tflite generator (with its .json sidecar)")
    parser.add_argument("--n", type=int, default=64, help="images in the grid (conditional: rounded up to full rows)")
    parser.add_argument("--labels", type=parse_labels, default=None, help="classes to draw, e.g. 0,3,7 (one row each)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latents (default 0)")
    parser.add_argument("--out", default=None, help="PNG to write (default grid.png, or interpolation.png)")
    parser.add_argument("--scale", type=int, default=1, help="enlarge the PNG/GIF K times (nearest neighbour)")
    parser.add_argument("--interpolate", action="store_true", help="a latent walk instead of a grid")
    parser.add_argument("--steps", type=int, default=10, help="points along the walk (default 10)")
    parser.add_argument("--gif", default=None, help="with --interpolate: also write this animated GIF")
    parser.add_argument("--threads", type=int, default=None, help="backend threads (default: the library's)")
    args = parser.parse_args(argv)
    for name in ("n", "scale", "steps"):
        if getattr(args, name) < 1 + (name == "steps"):
            raise OptionError(f"--{name} must be >= {1 + (name == 'steps')}, got {getattr(args, name)}")
    if args.gif and not args.interpolate:
        raise OptionError("--gif needs --interpolate (a GIF is of a latent walk)")
    check_outputs(args)
    g = Generator.load(args.model, threads=args.threads)
    check_memory(g, args)
    if args.interpolate:
        frames = interpolation_frames(g, steps=args.steps, labels=args.labels, seed=args.seed)
        picture = upscale(strip(frames), args.scale)
        outputs = [(args.out or "interpolation.png", lambda tmp: save_png(picture, tmp))]
        if args.gif:
            scaled = frames.repeat(args.scale, axis=2).repeat(args.scale, axis=3)
            outputs.append((args.gif, lambda tmp: save_gif(scaled, tmp)))
    else:
        grid = upscale(sample_grid(g, n=args.n, labels=args.labels, seed=args.seed), args.scale)
        outputs = [(args.out or "grid.png", lambda tmp: save_png(grid, tmp))]
    written = write_new(outputs)
    for path in written:
        print(printable(f"wrote {path} ({g.path.name}, {g.variant}, {g.backend})"))
    return written


def main(argv=None) -> None:
    """`run` with the project's CLI contract: a bad file or input is one line `error: ...` and exit status 2."""
    try:
        # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." at the first invoke: a notice, not ours
        with fd2_without(b"INFO: Created TensorFlow Lite XNNPACK delegate"):
            run(argv)
    except (GeneratorFileError, GeneratorInputError, OptionError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
