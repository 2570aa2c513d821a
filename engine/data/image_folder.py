"""Any folder tree of JPEG/PNG/WebP images (e.g. LFW's `person/*.jpg`), decoded with Pillow and resized to the preset.

`--data-dir` is required: there is no default location. The tree is walked recursively in sorted order, so the
same folder always gives the same arrays.

Resizing: each image is center-cropped to the target aspect ratio (nothing is squashed; for square targets from
LFW's 250x250 faces nothing is cut), then resized with Lanczos, which is antialiased when shrinking (250 -> 40 is
a 6x reduction; nearest or bilinear without antialiasing would alias). JPEGs are first decoded at a reduced DCT
scale no smaller than twice the target (Pillow's `draft`: less work, and the DCT downscale is itself a low-pass
filter). Images are converted to RGB (C=3) or grayscale "L" (C=1); transparent pixels become black; EXIF rotation
is applied. About 1 ms an image a core for LFW-sized JPEGs, decoded on a thread pool.

Labels: when every image sits below a first-level sub-folder of `data_dir` and there are at most 1000 of them,
label = that folder's index in sorted order and class_names = the folder names; otherwise the data is unlabeled.

Split: there is no official one; a permutation of the sorted file list with seed 0, its last 10% "test" and the
rest "train" (`engine.data.splits.split_indices`), or "all" of them (what the folder preset trains on). Only the
split's files are decoded. 16-bit PNGs are scaled to 8 bits (Pillow's own conversion would clip them at 255).

`summarise` reads every file's header only (size, mode, palette): what engine.train picks a run's shape from.

Sub-folders that are symbolic links are followed (each real folder once); a folder that cannot be read is an error
naming it (its images, maybe a whole class, would otherwise vanish without a word). Unreadable or corrupt files
among good ones, and images over MAX_SOURCE_PIXELS (checked from the header, before
decoding), are skipped and counted; only regular files are read (a FIFO named x.png is not); one line on stderr at
the end names how many and the first few paths. If none can be read, that is an error.
"""

import os
import statistics
import sys
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from engine.data import ImageData, register
from engine.data.splits import SPLITS, split_indices
from engine.errors import UserError, printable_path

NAME = "image_folder"
EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")  # WebP: Pillow reads it where it was built with libwebp (PyPI's is)
MAX_CLASSES = 1000
# Larger sources are skipped (counted as unreadable) before decoding: a 17 KB PNG can declare 12000x12000 (+2.7 GB
# decoded, just under Pillow's own bomb limit). 50 MP covers any camera photo; the targets here are at most 256x256.
MAX_SOURCE_PIXELS = 50_000_000
_SHOWN_SKIPPED = 3


@register(NAME, "a folder of images given with --data-dir")
def load(split: str = "train", data_dir: str | None = None, image_shape=None) -> ImageData:
    """Loads a split of a folder of images, resized to `image_shape`.

    Args:
      split: "train" (90% of the files), "test" (the other 10%; see the module docstring) or "all".
      data_dir: the folder, searched recursively; required.
      image_shape: the preset's (H, W, C), C 1 (grayscale) or 3 (RGB); required.

    Returns:
      ImageData with images [N, H, W, C] uint8; labels [N] int32 and class_names from sub-folders, or None and ().

    Raises:
      UserError: unknown split; no data_dir or image_shape; the folder is missing, has no JPEG/PNG/WebP files, too few
        for the split, or none of them can be read. One line each.
    """
    if split not in (*SPLITS, "all"):
        raise UserError(f"unknown split {split!r} for {NAME}; valid: {', '.join(SPLITS)}, all")
    if data_dir is None:
        raise UserError(f"{NAME} needs --data-dir DIR (a folder of JPEG/PNG/WebP files, searched recursively)")
    if image_shape is None:
        raise UserError(f"{NAME} needs the preset's image shape")
    if len(image_shape) != 3 or image_shape[2] not in (1, 3) or min(image_shape[:2]) < 1:
        raise UserError(f"{NAME} makes images of shape (H, W, 1) or (H, W, 3), not {tuple(image_shape)}")
    root = Path(data_dir).expanduser()
    files = list_images(root)
    labels, class_names = folder_labels(root, files)
    keep = np.arange(len(files)) if split == "all" else split_indices(len(files), split)
    if not keep.size:
        raise UserError(f"{root} has only {len(files)} image files, too few for a {split} split (10% is test)")
    images, ok = decode_all([files[i] for i in keep], tuple(image_shape))
    skipped = [files[i] for i in keep[~ok]]
    if not ok.any():
        raise UserError(
            f"none of the {len(keep)} {split} image files under {root} could be read (first: {skipped[0]}); "
            f"check that they are real JPEG/PNG/WebP files"
        )
    if skipped:
        shown = ", ".join(str(p) for p in skipped[:_SHOWN_SKIPPED]) + (", ..." if len(skipped) > _SHOWN_SKIPPED else "")
        print(
            f"{NAME}: skipped {len(skipped)} of {len(keep)} {split} files under {root} that could not be read as "
            f"images: {shown}",
            file=sys.stderr,
        )
    return ImageData(
        images=images[ok],
        labels=None if labels is None else labels[keep[ok]],
        class_names=class_names,
        source=f"{root} ({NAME} {split})",
    )


def list_images(root: Path) -> list[Path]:
    """All .jpg/.jpeg/.png/.webp files under `root` (any case), in sorted walk order.

    Raises:
      UserError: `root` is not a directory or holds no such files.
    """
    if not root.is_dir():
        problem = "is not a directory" if root.exists() else "does not exist"
        raise UserError(f"--data-dir {root} {problem}; pass a folder of JPEG/PNG/WebP files")
    files = list(image_files(root))
    if not files:
        raise UserError(f"{root} has no .jpg/.jpeg/.png/.webp files (searched recursively); pass a folder of images")
    return files


GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")


@dataclass(frozen=True)
class Summary:
    """What a folder's image headers say, read without decoding a pixel (engine.train picks a run's shape from it)."""

    root: Path
    files: int  # image files found
    read: int  # of them, headers that could be read
    colour: int  # of them, colour images (RGB, RGBA, CMYK, a palette with colours, ...)
    median_side: int  # the median of each image's shorter side, in pixels
    class_names: tuple[str, ...]  # first-level sub-folders, when every image sits in one (at most MAX_CLASSES)
    sub_folders: int = 0  # first-level sub-folders holding images, when every image sits in one (any number)

    @property
    def channels(self) -> int:
        """3 when any image is colour (grey converts to RGB losslessly, not back), else 1."""
        return 3 if self.colour else 1


def summarise(data_dir) -> Summary:
    """Reads every image's size and mode from its header (no decoding).

    Raises:
      UserError: the folder is missing, holds no JPEG/PNG/WebP files, or none of their headers can be read.
    """
    root = Path(data_dir).expanduser()
    files = list_images(root)
    sides, colour = [], 0
    for path in files:
        try:
            with quiet_open(path) as image:
                sides.append(min(image.size))
                colour += is_colour(image)
        except Exception:  # a damaged file: counted out here, skipped (and named) when the data loads
            continue
    if not sides:
        raise UserError(f"none of the {len(files)} image files under {root} could be read; pass a folder of images")
    _, class_names = folder_labels(root, files)
    parts = [f.relative_to(root).parts for f in files]
    sub_folders = len({p[0] for p in parts}) if all(len(p) > 1 for p in parts) else 0
    return Summary(root, len(files), len(sides), colour, int(statistics.median(sides)), class_names, sub_folders)


def is_colour(image: Image.Image) -> bool:
    """Whether an opened image has colour, from its mode (and a palette's entries), without decoding pixels."""
    if image.mode in GREY_MODES:
        return False
    if image.mode in ("P", "PA") and image.palette is not None:
        raw = bytes(image.palette.palette)
        step = len(image.palette.mode)  # "RGB" or "RGBA"
        return any(raw[i] != raw[i + 1] or raw[i] != raw[i + 2] for i in range(0, len(raw) - 2, step))
    return True


def quiet_open(path: Path) -> Image.Image:
    """Image.open without Pillow's DecompressionBombWarning: sizes are checked here (MAX_SOURCE_PIXELS)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(path)


def holds_images(data_dir) -> bool:
    """Whether `data_dir` is a directory with at least one .jpg/.jpeg/.png/.webp file in its tree (stops at the first).

    Raises:
      UserError: a folder on the way cannot be read (see `image_files`).
    """
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        return False
    return any(True for _ in image_files(root))


def image_files(root: Path) -> Iterator[Path]:
    """The .jpg/.jpeg/.png/.webp regular files under `root`: a folder's files in name order, then each sub-folder's in
    name order (os.walk's order). Sub-folders that are symbolic links are followed, each real folder once (a link
    back up the tree is not a loop); only regular files are yielded (a FIFO named x.png would block the decoder).

    Raises:
      UserError: a folder cannot be read, naming it (a class that silently vanished would train the wrong model).
    """
    seen: set[tuple[int, int]] = set()

    def visit(directory: Path) -> Iterator[Path]:
        try:
            st = directory.stat()
            if (st.st_dev, st.st_ino) in seen:
                return
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(directory) as entries:
                listed = sorted((e.name, e.is_dir()) for e in entries)
        except OSError as e:
            raise UserError(
                f"{printable_path(directory)} under --data-dir {printable_path(root)} cannot be read "
                f"({e.strerror or type(e).__name__}); make it readable (chmod), or move it out of the folder"
            ) from None
        for name, is_dir in listed:
            if not is_dir and name.lower().endswith(EXTENSIONS) and Path(directory, name).is_file():
                yield Path(directory, name)
        for name, is_dir in listed:
            if is_dir:
                yield from visit(Path(directory, name))

    yield from visit(root)


def folder_labels(root: Path, files: list[Path]) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """(labels int32 [len(files)], class names) from first-level sub-folders, or (None, ()) if they do not apply."""
    parts = [f.relative_to(root).parts for f in files]
    if any(len(p) < 2 for p in parts):
        return None, ()
    class_names = tuple(sorted({p[0] for p in parts}))
    if len(class_names) > MAX_CLASSES:
        return None, ()
    index = {name: i for i, name in enumerate(class_names)}
    return np.array([index[p[0]] for p in parts], dtype=np.int32), class_names


def decode_all(files: list[Path], shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Decodes and resizes `files` in a thread pool (Pillow releases the GIL while decoding and resizing).

    Returns:
      (images uint8 [len(files), H, W, C], ok bool [len(files)]); rows of unreadable files are zero.
    """
    images = np.zeros((len(files), *shape), dtype=np.uint8)
    ok = np.zeros(len(files), dtype=bool)

    def work(i: int) -> None:
        try:
            images[i] = decode(files[i], shape)
            ok[i] = True
        except Exception:  # Pillow raises OSError, ValueError, SyntaxError, struct.error ... for bad files
            pass

    with ThreadPoolExecutor(max_workers=min(16, (os.cpu_count() or 1) + 2)) as pool:
        list(pool.map(work, range(len(files))))
    return images, ok


def decode(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    """One image file -> uint8 [H, W, C]: center-cropped to the target aspect ratio, Lanczos-resized, RGB or L."""
    height, width, channels = shape
    with quiet_open(path) as image:  # reads the header only: the size is known before any pixel is decoded
        if image.width * image.height > MAX_SOURCE_PIXELS:
            raise ValueError(f"{image.width}x{image.height} is over {MAX_SOURCE_PIXELS:,} pixels")
        image.draft("RGB" if channels == 3 else "L", (2 * width, 2 * height))  # JPEG only; a no-op otherwise
        image = ImageOps.exif_transpose(image)
        if image.mode.startswith("I") or image.mode == "F":
            image = eight_bit(image)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            image = Image.alpha_composite(Image.new("RGBA", image.size, "black"), image.convert("RGBA"))
        image = image.convert("RGB" if channels == 3 else "L")
        w, h = image.size
        crop_w, crop_h = min(w, h * width / height), min(h, w * height / width)
        box = ((w - crop_w) / 2, (h - crop_h) / 2, (w + crop_w) / 2, (h + crop_h) / 2)
        image = image.resize((width, height), Image.Resampling.LANCZOS, box=box)
        return np.asarray(image).reshape(shape)


def eight_bit(image: Image.Image) -> Image.Image:
    """A 16-bit (or 32-bit integer) grey image as 8-bit "L", scaled by 255 / 65535: Pillow's own convert("L") clips
    those values at 255, so a 16-bit gradient would come out almost all white."""
    values = np.asarray(image, dtype=np.float64)
    return Image.fromarray(np.clip(np.rint(values * (255.0 / 65535.0)), 0, 255).astype(np.uint8), "L")
