"""Image folders to develop and measure the folder recipes on, from what a package registry or the system holds.

Usage: python -m benchmarks.folder_data emoji [--classes] [--out DIR] [--cache DIR]
       python -m benchmarks.folder_data fashion [--count 2000] [--classes] [--out DIR] [--data-dir DIR]

emoji    the 3,786 Noto Emoji of the npm package emoji-datasource-google@16.0.0 (Apache 2.0), 64x64 RGBA PNGs,
         fetched with `npm pack` into --cache (default <cache>/data/npm) and unpacked here; `--classes` puts each
         image in a sub-folder named by its `category` in the package's emoji.json (9 classes: the 5 skin-tone
         swatches of the "Component" category are dropped, too few and not emoji). Skin-tone variants share their
         base emoji's category.
fashion  the first --count Fashion-MNIST train images as 28x28 grey PNGs, read with the engine's loader (Debian's
         /usr/share/datasets/fashion-mnist, or --data-dir); `--classes` puts them in one sub-folder per class.

Folders go to <cache>/data/<name> (<cache>: $GAN_ENGINE_CACHE, else ~/.cache/gan-engine), e.g. data/emoji,
data/emoji_classes, data/fashion_2000; each gets a SOURCE.json written last, and a folder that has one is left as
it is (the work is skipped). Each command prints the folder it wrote or found.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

EMOJI_PACKAGE = "emoji-datasource-google@16.0.0"
EMOJI_TARBALL = "emoji-datasource-google-16.0.0.tgz"
EMOJI_IMAGES = "package/img/google/64/"
EMOJI_INDEX = "package/emoji.json"
EMOJI_DROPPED = ("Component",)  # the 5 skin-tone swatches: not emoji, and too few images for a class
EMOJI_NAME = re.compile(r"[0-9a-f]+(-[0-9a-f]+)*\.png")  # the package's file names: code points in hex
MAX_MEMBER_BYTES = 20 * 2**20  # no 64x64 PNG (nor emoji.json, ~1.6 MB) is anywhere near this
MARKER = "SOURCE.json"


def cache_root() -> Path:
    return Path(os.environ.get("GAN_ENGINE_CACHE") or "~/.cache/gan-engine").expanduser()


def default_out(name: str) -> Path:
    return cache_root() / "data" / name


def done(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def publish(staging: Path, folder: Path, source: dict) -> Path:
    """Writes SOURCE.json into `staging` and moves it to `folder` (absent or unfinished before)."""
    (staging / MARKER).write_text(json.dumps(source, indent=2) + "\n")
    if folder.exists():  # an unfinished earlier attempt (no marker): replaced whole
        shutil.rmtree(folder)
    os.replace(staging, folder)
    return folder


def staging_dir(folder: Path) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))


def fetch_emoji(cache: Path) -> Path:
    """The package's tarball in `cache`, fetched with `npm pack` (no install scripts run) when not there yet."""
    tarball = cache / EMOJI_TARBALL
    if tarball.is_file():
        return tarball
    if shutil.which("npm") is None:
        raise SystemExit("error: npm is not installed; install Node.js's npm (apt-get install npm) and run again")
    cache.mkdir(parents=True, exist_ok=True)
    cmd = ["npm", "pack", EMOJI_PACKAGE, "--pack-destination", str(cache), "--ignore-scripts", "--json"]
    print(" ".join(cmd), flush=True)
    done_ = subprocess.run(cmd, capture_output=True, text=True)
    if done_.returncode or not tarball.is_file():
        tail = (done_.stderr or done_.stdout).strip().splitlines()[-3:]
        raise SystemExit(f"error: npm pack {EMOJI_PACKAGE} failed (exit {done_.returncode}): {' | '.join(tail)}")
    try:
        print(f"fetched {tarball} (integrity {json.loads(done_.stdout)[0]['integrity']})")
    except (ValueError, KeyError, IndexError):
        print(f"fetched {tarball}")
    return tarball


def read_emoji(tarball: Path) -> tuple[dict[str, bytes], dict]:
    """({file name: PNG bytes} of the 64x64 images, the parsed emoji.json), read member by member.

    Nothing is extracted by path: only regular files named like the package's images (or emoji.json itself) are
    read, by their base name, so no member can write outside the target (absolute paths, '..', links).
    """
    images, index = {}, None
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive:
            if not member.isfile() or member.size > MAX_MEMBER_BYTES:
                continue
            if member.name == EMOJI_INDEX:
                index = json.loads(archive.extractfile(member).read())
            elif member.name.startswith(EMOJI_IMAGES) and EMOJI_NAME.fullmatch(member.name[len(EMOJI_IMAGES) :]):
                images[member.name[len(EMOJI_IMAGES) :]] = archive.extractfile(member).read()
    if index is None or not images:
        raise SystemExit(f"error: {tarball} does not hold {EMOJI_INDEX} and {EMOJI_IMAGES}*.png; delete it and rerun")
    return images, index


def emoji_categories(index: list) -> dict[str, str]:
    """{image file name: category} for every entry of emoji.json and its skin-tone variants."""
    categories = {}
    for entry in index:
        for item in (entry, *(entry.get("skin_variations") or {}).values()):
            if item.get("image"):
                categories[item["image"]] = entry["category"]
    return categories


def class_folder(name: str) -> str:
    """A category or class name as a folder name ("Smileys & Emotion" -> "smileys_emotion")."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def write_emoji(out: Path, cache: Path, *, classes: bool) -> Path:
    if done(out):
        print(f"already there: {out}")
        return out
    images, index = read_emoji(fetch_emoji(cache))
    categories = emoji_categories(index)
    staging, counts = staging_dir(out), {}
    for name, data in sorted(images.items()):
        category = categories.get(name, "")
        if classes and (not category or category in EMOJI_DROPPED):
            continue
        target = staging / class_folder(category) / name if classes else staging / name
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(data)
        counts[category] = counts.get(category, 0) + 1
    written = sum(counts.values())
    source = {
        "what": f"{written} Noto Emoji, 64x64 RGBA PNG, from the npm package {EMOJI_PACKAGE} ({EMOJI_IMAGES})",
        "license": "Noto Emoji images: Apache License 2.0 (github.com/googlefonts/noto-emoji)",
        "images": written,
        "classes": {class_folder(c): n for c, n in sorted(counts.items())} if classes else None,
        "dropped": {c: sum(categories.get(n) == c for n in images) for c in EMOJI_DROPPED} if classes else {},
        "command": "python -m benchmarks.folder_data emoji" + (" --classes" if classes else ""),
    }
    publish(staging, out, source)
    print(f"wrote {written} images to {out}" + (f" in {len(counts)} class folders" if classes else ""))
    return out


def write_fashion(out: Path, *, count: int, classes: bool, data_dir=None) -> Path:
    """The first `count` Fashion-MNIST train images as grey PNGs in `out` (one sub-folder per class with `classes`)."""
    from PIL import Image

    from engine.data.registry import load_dataset
    from engine.errors import UserError

    if done(out):
        print(f"already there: {out}")
        return out
    try:
        train = load_dataset("fashion_mnist", "train", data_dir)
    except UserError as e:
        raise SystemExit(f"error: {e}") from None
    if not 1 <= count <= len(train.images):
        raise SystemExit(f"error: --count {count}: must be 1 to {len(train.images)} (the train split's size)")
    staging, width = staging_dir(out), len(str(count - 1))
    for i in range(count):
        name = f"{i:0{width}d}.png"
        target = staging / class_folder(train.class_names[train.labels[i]]) / name if classes else staging / name
        target.parent.mkdir(exist_ok=True)
        Image.fromarray(train.images[i, :, :, 0], "L").save(target)
    source = {
        "what": f"the first {count} Fashion-MNIST train images, 28x28 grey PNG, from {train.source}",
        "license": "Fashion-MNIST: MIT (Zalando Research)",
        "images": count,
        "classes": sorted({class_folder(n) for n in train.class_names}) if classes else None,
        "command": f"python -m benchmarks.folder_data fashion --count {count}" + (" --classes" if classes else ""),
    }
    publish(staging, out, source)
    print(f"wrote {count} images to {out}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.folder_data", description=__doc__.split("\n")[0])
    parser.add_argument("source", choices=("emoji", "fashion"))
    parser.add_argument("--classes", action="store_true", help="one sub-folder per class (a conditional folder)")
    parser.add_argument("--out", help="the folder to write (default <cache>/data/<name>)")
    parser.add_argument("--cache", help="emoji: where the npm tarball is kept (default <cache>/data/npm)")
    parser.add_argument("--count", type=int, default=2000, help="fashion: images to write (default 2000)")
    parser.add_argument("--data-dir", help="fashion: the Fashion-MNIST IDX files (default: the engine's search)")
    args = parser.parse_args(argv)
    suffix = "_classes" if args.classes else ""
    if args.source == "emoji":
        out = Path(args.out) if args.out else default_out("emoji" + suffix)
        write_emoji(out, Path(args.cache) if args.cache else cache_root() / "data" / "npm", classes=args.classes)
    else:
        out = Path(args.out) if args.out else default_out(f"fashion_{args.count}{suffix}")
        write_fashion(out, count=args.count, classes=args.classes, data_dir=args.data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
