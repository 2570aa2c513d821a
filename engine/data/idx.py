"""Reading and writing IDX files (the MNIST format), gzipped or raw, with one-line errors for bad files.

An IDX file is a 4-byte magic number (0, 0, dtype code, number of dims), one big-endian uint32 per dim, then
prod(dims) items in C order. Only dtype code 0x08 (uint8) is supported: it is all MNIST-style datasets use.
"""

import gzip
import zlib
from pathlib import Path

import numpy as np

from engine.errors import UserError

UINT8 = 0x08
_GZIP_MAGIC = b"\x1f\x8b"
_DEFAULT_REMEDY = "replace it with a good copy"


def read_idx(path: str | Path, *, remedy: str = _DEFAULT_REMEDY) -> np.ndarray:
    """Reads a uint8 IDX file into an array shaped by its header.

    Args:
      path: the file; gzip is detected from its first bytes, so `.gz` files and gunzipped copies both work.
      remedy: what the user should do about a bad file, appended to error messages (the caller knows whether
        the file came from a download, a system package or the user).

    Returns:
      A writable uint8 array with the shape the header gives.

    Raises:
      UserError: the file is missing, unreadable, not gzip despite looking like it, truncated, has a wrong magic
        number or dtype, or holds more or fewer bytes than its dims need. One line naming the file.
    """
    path = Path(path)
    raw = _read_bytes(path, remedy)
    header_len, dims = _parse_header(path, raw, remedy)
    expected = int(np.prod(dims, dtype=np.int64))
    found = len(raw) - header_len
    if found < expected:
        raise UserError(
            f"{path} is truncated (expected {expected} bytes of data for shape {dims}, found {found}); {remedy}"
        )
    if found > expected:
        raise UserError(
            f"{path} has {found - expected} bytes more than its header's shape {dims} needs "
            f"({expected}); it is corrupt or not an IDX file; {remedy}"
        )
    # frombuffer over bytes is read-only; one memcpy buys callers an ordinary array.
    return np.frombuffer(raw, dtype=np.uint8, count=expected, offset=header_len).reshape(dims).copy()


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Writes a uint8 array as an IDX file, gzipped when `path` ends with `.gz`.

    Args:
      path: destination file; its directory must exist.
      array: uint8 array with at least one dim, each under 2**32.

    Raises:
      ValueError: the array is not uint8, is 0-d, or has a dim that does not fit the header.
    """
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"write_idx supports uint8 arrays only, got {array.dtype}")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"write_idx needs 1 to 255 dims, got {array.ndim}")
    if any(d >= 2**32 for d in array.shape):
        raise ValueError(f"write_idx dims must be < 2**32, got {array.shape}")
    data = (
        bytes([0, 0, UINT8, array.ndim])
        + np.asarray(array.shape, dtype=">u4").tobytes()
        + np.ascontiguousarray(array).tobytes()
    )
    path = Path(path)
    if path.suffix == ".gz":
        # mtime=0 keeps the output byte-identical across runs.
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)


def _read_bytes(path: Path, remedy: str) -> bytes:
    """Returns the file's (decompressed) bytes, turning every I/O or gzip failure into a UserError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path} does not exist") from None
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise UserError(_truncated_gzip_message(path, raw, remedy)) from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise UserError(f"{path} is a corrupt gzip file ({e}); {remedy}") from None


def _truncated_gzip_message(path: Path, raw: bytes, remedy: str) -> str:
    """Says how much of a cut-off gzip file survived, decoding what it can to learn the expected size."""
    try:
        partial = zlib.decompressobj(wbits=31).decompress(raw)  # 31: expect a gzip wrapper
    except zlib.error:
        partial = b""
    try:
        header_len, dims = _parse_header(path, partial, remedy)
    except UserError:
        return f"{path} is truncated (its gzip stream ends early after {len(raw)} bytes on disk); {remedy}"
    expected = int(np.prod(dims, dtype=np.int64))
    return (
        f"{path} is truncated (expected {expected} bytes of data for shape {dims}, found "
        f"{len(partial) - header_len} before the gzip stream ends); {remedy}"
    )


def _parse_header(path: Path, raw: bytes, remedy: str) -> tuple[int, tuple[int, ...]]:
    """Checks the magic number and returns (header length in bytes, dims)."""
    if len(raw) < 4:
        raise UserError(f"{path} is too short to be an IDX file ({len(raw)} bytes); {remedy}")
    zero0, zero1, dtype_code, ndim = raw[:4]
    if zero0 != 0 or zero1 != 0:
        with open(path, "rb") as f:
            gzipped = f.read(2) == _GZIP_MAGIC  # then the bad bytes are inside a good gzip stream
        kind = "neither gzip nor IDX" if path.suffix == ".gz" and not gzipped else "not an IDX file"
        raise UserError(f"{path} is {kind}: bad magic number 0x{raw[:4].hex()} (expected 0x000008..); {remedy}")
    if dtype_code != UINT8:
        raise UserError(f"{path} has IDX dtype code 0x{dtype_code:02x}; only 0x08 (uint8) is supported; {remedy}")
    if ndim == 0:
        raise UserError(f"{path} has an IDX header with 0 dims; {remedy}")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise UserError(
            f"{path} is truncated inside its header (needs {header_len} bytes for {ndim} dims, "
            f"found {len(raw)}); {remedy}"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    return header_len, dims


def find_idx_file(directory: Path, filename: str) -> Path | None:
    """`filename` in `directory` as shipped (`.gz`) or gunzipped, whichever exists; read_idx reads both."""
    directory = Path(directory)
    return next((p for p in (directory / filename, directory / filename.removesuffix(".gz")) if p.is_file()), None)


def first_dir_with(candidates, filenames) -> Path | None:
    """The first of `candidates` holding every one of `filenames` (see find_idx_file), or None."""
    return next((d for d in candidates if all(find_idx_file(d, f) for f in filenames)), None)


def missing_files(directory: Path, filenames) -> list[str]:
    return [f for f in filenames if not find_idx_file(directory, f)]
