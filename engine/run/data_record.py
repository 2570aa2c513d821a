"""What a run trained on, recorded when it starts and compared when it is resumed.

A run's config.json holds `data`: the folder (absolute), and for a folder of images its class names in order, its
image count and a fingerprint (sha256 of the sorted file list with sizes and modification times); data_files.json
beside it holds that list, so a refused resume can name what changed. Taking the record stats each file once (no
image is opened): milliseconds for thousands of files.

`--resume` without `--data-dir` reads the recorded folder; with one, or when the folder changed, the data must be
the same files (the folder may have moved): images added (a grid written into the folder included), removed,
renamed, edited, or class folders renamed are refused in one line. There is no option to accept new images: the
run's record, model card and data position would then describe data it partly did not train on, and a resumed run
would no longer end as the unbroken one (--deterministic); a new run (another --out-dir) trains on the new set.
Runs made before the record existed are not checked.
"""

import hashlib
import json
import os
from pathlib import Path

from engine.config import Config
from engine.data import image_folder
from engine.errors import UserError, printable_path
from engine.run.layout import CONFIG_FILE, DATA_FILES

_SHOWN = 3  # paths named per kind of change


def take(dataset: str, data_dir: str | None) -> dict:
    """The record of the data a new run is about to train on: {"dataset", "folder"}, plus for a folder of images
    {"class_names", "images", "fingerprint", "files"} ("files": [[relative path, size, mtime_ns], ...] sorted)."""
    folder = os.path.abspath(os.path.expanduser(data_dir)) if data_dir else None
    record = {"dataset": dataset, "folder": folder}
    if dataset != image_folder.NAME or folder is None:
        return record
    root = Path(folder)
    paths = image_folder.list_images(root)
    _, class_names = image_folder.folder_labels(root, paths)
    files = []
    for path in paths:
        stat = path.stat()
        files.append([path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns])
    return {
        **record,
        "class_names": list(class_names),
        "images": len(files),
        "fingerprint": fingerprint(files),
        "files": files,
    }


def fingerprint(files: list) -> str:
    digest = hashlib.sha256()
    for name, size, mtime_ns in files:
        digest.update(os.fsencode(name) + f"\t{size}\t{mtime_ns}\n".encode())
    return digest.hexdigest()


def summary(record: dict) -> dict:
    """What config.json keeps of a record (the file list goes to data_files.json)."""
    return {k: v for k, v in record.items() if k != "files"}


def recorded(run_dir: Path) -> dict | None:
    """The run's data record with its file list (None for a run made before records were kept)."""
    try:
        data = json.loads((Path(run_dir) / CONFIG_FILE).read_text()).get("data")
    except (OSError, ValueError, AttributeError):
        return None  # engine.run.reading has already refused a damaged config.json
    if not isinstance(data, dict):
        return None
    try:
        files = json.loads((Path(run_dir) / DATA_FILES).read_text()).get("files")
    except (OSError, ValueError, AttributeError):
        files = None
    return {**data, "files": files if isinstance(files, list) else None}


def resumed_data_dir(run_dir: Path, cfg: Config, data_dir: str | None) -> str | None:
    """The --data-dir a resumed run reads: the one given, else the folder it recorded; checks that the data is what
    the run trained on (a folder of images: the same files, classes and order).

    Raises:
      UserError: the recorded folder is gone, or the data differs; one line naming what changed.
    """
    old = recorded(run_dir)
    if old is None or old.get("dataset") != cfg.dataset:
        return data_dir
    run = printable_path(run_dir)
    if data_dir is None:
        data_dir = old.get("folder")
        if data_dir is not None and not Path(data_dir).is_dir():
            raise UserError(
                f"--resume {run}: the folder it trained on, {printable_path(data_dir)}, is not there any more; "
                "pass --data-dir with the same files, or start a new run"
            )
    if "fingerprint" not in old:
        return data_dir
    now = take(cfg.dataset, data_dir)
    if now.get("fingerprint") == old["fingerprint"]:
        return data_dir
    where = printable_path(now["folder"])
    if now["folder"] != old.get("folder"):
        where += f" (the run trained on {printable_path(old.get('folder'))})"
    raise UserError(
        f"--resume {run}: the images under {where} are not what the run trained on ({differences(old, now)}); "
        "put the folder back as it was, or start a new run (another --out-dir) to train on it as it is"
    )


def differences(old: dict, now: dict) -> str:
    """What changed between two records, for a message: classes, then files added, removed, renamed, edited."""
    parts = []
    before, after = old.get("class_names") or [], now.get("class_names") or []
    if before != after:
        added = [c for c in after if c not in before]
        removed = [c for c in before if c not in after]
        if added or removed:
            parts.append(
                "class folders " + "; ".join(x for x in (_named("added", added), _named("removed", removed)) if x)
            )
        else:
            parts.append(f"class folders reordered: {', '.join(before)} -> {', '.join(after)}")
    if old.get("files") is None:
        parts.append(f"{old.get('images', '?')} image files before, {now['images']} now")
        return "; ".join(parts)
    was = {name: (size, mtime) for name, size, mtime in old["files"]}
    is_ = {name: (size, mtime) for name, size, mtime in now["files"]}
    gone = [n for n in was if n not in is_]
    new = [n for n in is_ if n not in was]
    by_stat = {}
    for name in new:
        by_stat.setdefault(is_[name], []).append(name)
    renamed = []
    for name in list(gone):
        twins = by_stat.get(was[name])
        if twins:
            renamed.append(f"{name} -> {twins.pop(0)}")
            gone.remove(name)
    taken = {r.split(" -> ", 1)[1] for r in renamed}
    new = [n for n in new if n not in taken]
    edited = [n for n in was if n in is_ and was[n] != is_[n]]
    for what, names in (("added", new), ("removed", gone), ("renamed", renamed), ("changed (size or time)", edited)):
        if names:
            parts.append(_named(f"{len(names)} file{'s' if len(names) != 1 else ''} {what}", names))
    return "; ".join(parts) or "the file list differs"


def _named(what: str, names: list) -> str:
    if not names:
        return ""
    shown = ", ".join(printable_path(n) for n in names[:_SHOWN]) + (", ..." if len(names) > _SHOWN else "")
    return f"{what}: {shown}"
