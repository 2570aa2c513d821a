"""Where a loader looks for its files: one search order for every dataset that is read from local files."""

import os
from collections.abc import Sequence
from pathlib import Path

from engine.data.idx import first_dir_with, missing_files
from engine.errors import UserError


def candidate_dirs(
    names: Sequence[str],
    data_dir: str | os.PathLike | None = None,
    *,
    keras_names: Sequence[str] | None = None,
    system_root: Path | None = None,
) -> list[Path]:
    """The local directories searched for a dataset's files, in order; they need not exist.

    Args:
      names: the dataset's directory names, most specific first, e.g. ("fashion_mnist", "fashion-mnist").
      data_dir: `--data-dir`: when given it is the only candidate.
      keras_names: the names looked for under ~/.keras/datasets (default: `names`).
      system_root: a system-wide datasets directory (Debian's /usr/share/datasets) searched last, by `names`.
    Returns:
      $GAN_DATA_DIR/<name> for each name and $GAN_DATA_DIR itself (when set), ~/.keras/datasets/<name>, then
      <system_root>/<name>; each directory once.
    """
    if data_dir is not None:
        return [Path(data_dir).expanduser()]
    dirs: list[Path] = []
    env = os.environ.get("GAN_DATA_DIR")
    if env:
        root = Path(env).expanduser()
        dirs += [root / n for n in names] + [root]
    dirs += [Path.home() / ".keras" / "datasets" / n for n in (names if keras_names is None else keras_names)]
    if system_root is not None:
        dirs += [system_root / n for n in names]
    return list(dict.fromkeys(dirs))


def looked_in(candidates: Sequence[Path]) -> str:
    """The places searched, for a "not found in ..." message (saying so when GAN_DATA_DIR is not set)."""
    unset = "" if os.environ.get("GAN_DATA_DIR") else " (GAN_DATA_DIR is not set)"
    return ", ".join(str(d) for d in candidates) + unset


def data_dir_error(directory: Path, what: str, needed: Sequence[str], *, put: str, how_to_get: str) -> UserError:
    """The error for a `--data-dir` that lacks the files `what` needs: it does not exist, or names the missing ones.

    Args:
      put: how to fill the directory, e.g. "put the four IDX .gz files (...)".
      how_to_get: where the files come from, for a directory that does not exist.
    """
    if not directory.is_dir():
        return UserError(f"--data-dir {directory} does not exist; check the path, or {how_to_get}")
    missing = ", ".join(missing_files(directory, needed))
    return UserError(
        f"--data-dir {directory} lacks the {what} files ({missing}); {put} there, or leave --data-dir out to search "
        "the default places"
    )


def local_dir(candidates, needed, data_dir, what: str, *, put: str, how_to_get: str) -> Path | None:
    """The first of `candidates` holding every file in `needed`; None when none does and no `data_dir` was given.

    Raises:
      UserError: `data_dir` was given (it is then the only candidate) and lacks the files (data_dir_error).
    """
    found = first_dir_with(candidates, needed)
    if found is None and data_dir is not None:
        raise data_dir_error(candidates[0], what, needed, put=put, how_to_get=how_to_get)
    return found
