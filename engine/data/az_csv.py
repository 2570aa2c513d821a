"""Kaggle's "A-Z Handwritten Alphabets in .csv format": 372,451 28x28 letters in one csv, parsed fast and cached.

The file (`A_Z Handwritten Data.csv`, ~680 MB) has no header; each row is the label 0..25 (A..Z) then 784 pixels
0..255, row-major. It has no official train/test split, so the loader makes one: a permutation of all rows with
seed 0, whose last 10% is "test" and the rest "train" (see `split_indices`).

Where the csv is looked for, first directory holding it wins:
  1. `data_dir` (`--data-dir`), exclusively: if given and it lacks the file, that is an error;
  2. `$GAN_DATA_DIR/az_csv`, then `$GAN_DATA_DIR` itself;
  3. `~/.keras/datasets/az_csv`.
A directory holds it if it has `A_Z Handwritten Data.csv` or, except for the shared `$GAN_DATA_DIR` itself, exactly
one `*.csv` file. Nothing is downloaded: Kaggle needs an account.

Parsing is vectorized NumPy over the raw bytes, in chunks on a few threads: about 4 s for the full file on 2 busy
cores (NumPy 2's `np.loadtxt` takes about 6 s there and cannot say which row is bad; Python row by row, minutes).
The parsed arrays are cached beside the csv as `<csv name>.npz` (~300 MB, loads in about 0.3 s), written atomically,
and reused while it is newer than the csv and records the csv's size and mtime; an unwritable directory just means
no cache.
"""

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from engine.data import ImageData, places, register
from engine.data.splits import SPLITS, split_indices  # noqa: F401  (split_indices: re-exported for tests)
from engine.errors import UserError

NAME = "az_csv"
CSV_NAME = "A_Z Handwritten Data.csv"
URL = "https://www.kaggle.com/datasets/sachinpatel21/az-handwritten-alphabets-in-csv-format"
CLASS_NAMES = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
COLUMNS = 1 + 28 * 28
CACHE_VERSION = 1
_CHUNK_BYTES = 4 << 20  # rows parsed at a time; the temporaries are ~20x this per worker
_COMMA, _NEWLINE, _ZERO = ord(","), ord("\n"), ord("0")


@register(NAME, "Kaggle's 'A-Z Handwritten Alphabets' csv (28x28 grayscale letters, derived from NIST SD19)")
def load(split: str = "train", data_dir: str | None = None, image_shape=None) -> ImageData:
    """Loads a split of the A-Z handwritten letters.

    Args:
      split: "train" (90% of the rows) or "test" (the other 10%); see the module docstring.
      data_dir: a directory holding the csv; when given, no other place is searched.
      image_shape: ignored (the data is 28x28x1; the engine checks it against the preset).

    Returns:
      ImageData with images [N, 28, 28, 1] uint8, labels [N] int32 0..25 and class_names "A".."Z".

    Raises:
      UserError: unknown split; the csv is not found or unreadable; a row has the wrong column count, a label
        outside 0..25 or a pixel that is not an integer 0..255. One line naming the file and the row.
    """
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r} for {NAME}; valid: {', '.join(SPLITS)}")
    path = find_csv(data_dir)
    labels, pixels = read_cached(path)
    keep = split_indices(len(labels), split)
    return ImageData(
        images=pixels[keep].reshape(-1, 28, 28, 1),
        labels=labels[keep].astype(np.int32),
        class_names=CLASS_NAMES,
        source=f"{path} ({NAME} {split})",
    )


def candidate_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The directories searched for the csv, in order; an explicit `data_dir` is the only one."""
    return places.candidate_dirs((NAME,), data_dir)


def find_csv(data_dir: str | os.PathLike | None = None) -> Path:
    """Returns the first csv found in `candidate_dirs`.

    Raises:
      UserError: `data_dir` lacks it (or is ambiguous), or no default place has it. Says where to get the file.
    """
    candidates = candidate_dirs(data_dir)
    env = os.environ.get("GAN_DATA_DIR")
    shared_root = Path(env).expanduser() if env and data_dir is None else None  # other datasets' csvs live there
    for d in candidates:
        path = _csv_in(d, any_single=d != shared_root)
        if path is not None:
            return path
    get_it = f"download it from {URL} (needs a free Kaggle account) and unzip {CSV_NAME!r}"
    if data_dir is not None:
        d = candidates[0]
        if not d.is_dir():
            raise UserError(f"--data-dir {d} does not exist; check the path, or {get_it} into a directory")
        others = sorted(p.name for p in d.glob("*.csv"))
        found = f" (it has {len(others)} .csv files: {', '.join(others[:5])}; keep only one)" if others else ""
        raise UserError(f"--data-dir {d} has no {CSV_NAME!r}{found}; {get_it} there")
    raise UserError(
        f"{NAME} file {CSV_NAME!r} not found in {places.looked_in(candidates)}; {get_it} into one of those "
        "directories, or pass --data-dir DIR"
    )


def _csv_in(directory: Path, any_single: bool) -> Path | None:
    """The canonical csv in `directory`, else its only *.csv when `any_single`, else None."""
    if (directory / CSV_NAME).is_file():
        return directory / CSV_NAME
    if not any_single or not directory.is_dir():
        return None
    csvs = [p for p in directory.glob("*.csv") if p.is_file()]
    return csvs[0] if len(csvs) == 1 else None


def cache_path(path: Path) -> Path:
    """Where the parsed copy of csv `path` is kept."""
    return path.with_name(path.name + ".npz")


def read_cached(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(labels uint8 [N], pixels uint8 [N, 784]) from the cache if it is current, else parsed and cached."""
    try:
        stat = path.stat()
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    stamp = np.array([CACHE_VERSION, stat.st_size, stat.st_mtime_ns], dtype=np.int64)
    cache = cache_path(path)
    try:
        if cache.stat().st_mtime_ns > stat.st_mtime_ns:
            with np.load(cache) as z:
                if np.array_equal(z["stamp"], stamp):
                    return z["labels"], z["pixels"]
    except Exception:  # missing, stale or damaged cache: np.load raises many kinds; parse the csv instead
        pass
    labels, pixels = parse_csv(path)
    _write_atomically(cache, labels=labels, pixels=pixels, stamp=stamp)
    return labels, pixels


def _write_atomically(path: Path, **arrays) -> None:
    """np.savez to a temporary file then rename, so a crash never leaves half a cache; skipped if unwritable."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)


def parse_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parses and validates the csv: (labels uint8 [N], pixels uint8 [N, 784]).

    Raises:
      UserError: unreadable file, empty file, or the first bad row (column count, label, pixel), one line.
    """
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    end = len(raw)
    while end and raw[end - 1] in b"\r\n \t":
        end -= 1
    if end == 0:
        raise UserError(f"{path} is empty; {_remedy()}")
    chunks = list(_chunks(raw, end))
    labels, pixels, rows_before = [], [], 0
    # Threads: the parser is whole-array NumPy work, which releases the GIL.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for result in pool.map(lambda c: _parse_chunk(raw, *c), chunks):
            if isinstance(result, _BadRow):
                raise UserError(f"{path} row {rows_before + result.row} {result.problem}; {_remedy()}")
            labels.append(result[0])
            pixels.append(result[1])
            rows_before += len(result[0])
    labels, pixels = np.concatenate(labels), np.concatenate(pixels)
    bad = np.flatnonzero(labels >= len(CLASS_NAMES))
    if bad.size:
        raise UserError(
            f"{path} row {bad[0] + 1} has label {labels[bad[0]]}, outside 0..25 ({bad.size} such rows); {_remedy()}"
        )
    return labels, pixels


def _remedy() -> str:
    return f"is it Kaggle's A-Z csv (no header, label + 784 pixels a row)? re-download it from {URL}"


def _chunks(raw: bytes, end: int):
    """(start, stop) byte ranges of whole rows, each about _CHUNK_BYTES; `stop` is past the row's newline or `end`."""
    start = 0
    while start < end:
        stop = min(start + _CHUNK_BYTES, end)
        if stop < end:
            nl = raw.rfind(b"\n", start, stop)
            nl = nl if nl >= 0 else raw.find(b"\n", stop, end)
            stop = nl + 1 if nl >= 0 else end
        yield start, stop
        start = stop


class _BadRow:
    """A problem at a row of a chunk (1-based within it), turned into a UserError with the file-wide row number."""

    def __init__(self, row: int, problem: str):
        self.row, self.problem = row, problem


def _parse_chunk(raw: bytes, start: int, stop: int):
    """Parses rows raw[start:stop] into (labels uint8 [r], pixels uint8 [r, 784]), or returns a _BadRow.

    Vectorized over bytes: every field ends at a comma or newline, so once each field is known to hold 1 to 3
    digits, the number ending at byte i is d[i] + 10 d[i-1] + 100 d[i-2] with the terms past the field zeroed.
    """
    b = np.frombuffer(raw, np.uint8, count=stop - start, offset=start)
    if raw.find(b"\r", start, stop) >= 0:
        b = b[b != ord("\r")]
    if b[-1] != _NEWLINE:
        b = np.append(b, np.uint8(_NEWLINE))
    sep = (b == _COMMA) | (b == _NEWLINE)
    ends = np.flatnonzero(sep)
    is_nl = b[ends] == _NEWLINE
    rows = int(np.count_nonzero(is_nl))
    if len(ends) != rows * COLUMNS or not is_nl[COLUMNS - 1 :: COLUMNS].all():
        fields = np.diff(np.flatnonzero(is_nl), prepend=-1)
        row = int(np.flatnonzero(fields != COLUMNS)[0])
        return _BadRow(row + 1, f"has {fields[row]} columns, expected {COLUMNS} (label + 784 pixels)")
    digits = b - np.uint8(_ZERO)  # wraps non-digits to >= 10
    is_digit = digits < 10
    ok = (
        (is_digit | sep).all()
        and not sep[0]
        and not (sep[1:] & sep[:-1]).any()  # an empty field
        and not (is_digit[3:] & is_digit[2:-1] & is_digit[1:-2] & is_digit[:-3]).any()  # 4+ digits
    )
    if ok:
        digits *= is_digit
        number = digits.astype(np.uint16)
        number[1:] += np.uint16(10) * digits[:-1]
        number[2:] += np.uint16(100) * (digits[:-2] * is_digit[1:-1])
        values = number[ends - 1]
        ok = values.max() <= 255
    if not ok:
        return _first_bad_field(b, ends, first_chunk=start == 0)
    values = values.astype(np.uint8).reshape(rows, COLUMNS)
    return values[:, 0].copy(), values[:, 1:].copy()


def _first_bad_field(b: np.ndarray, ends: np.ndarray, first_chunk: bool) -> _BadRow:
    """Finds the first field that is not an integer 0..255 (the slow, field-by-field check, run only on failure)."""
    starts = np.concatenate([[0], ends[:-1] + 1])
    for i, (lo, hi) in enumerate(zip(starts, ends, strict=False)):
        text = bytes(b[lo:hi]).decode("latin-1")
        if not (text.isascii() and text.isdigit() and len(text) <= 3 and int(text) <= 255):
            header = " (the file must have no header row)" if first_chunk and i < COLUMNS else ""
            return _BadRow(i // COLUMNS + 1, f"column {i % COLUMNS + 1} is {text!r}, not an integer 0..255{header}")
    raise AssertionError("no bad field found")
