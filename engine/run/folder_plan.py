"""A run on a folder of images: its shape (and, with class sub-folders, its model) picked from the images' headers,
and the one line that tells the user what was picked, from what, and how to change it.

An any-size family (engine.models.dcgan_any) takes the folder's shape: 3 channels when any image has colour, else 1;
the size from `--image-size N`, else the largest size the family builds that is <= the median shorter side of the
images, capped at CPU_SIZE_CAP without a GPU. The plain command (no --preset, --steps, --epochs or --time-limit) on a
CPU also trains for CPU_MINUTES: `plan_minutes`. Both are what measured best on the 2-core CPU (docs/folders.md):
the 3,786 emoji at 32x32 reached 7.0x the real-vs-real FID in 10 minutes and 6.5x in 30; at 64x64 11.9x and 11.4x
(each doubling of the side costs about 4x the time per step). With a GPU the size follows the images (unmeasured).
A fixed-shape family (the tutorials') keeps its shape, and the line says how the images are converted to it.
"""

import dataclasses

from engine.config import Config
from engine.data.image_folder import MAX_CLASSES
from engine.errors import UserError

CPU_SIZE_CAP = 32
CPU_MINUTES = 10.0


def pick_size(median_side: int, sizes: tuple[int, ...], *, gpu: bool) -> tuple[int, str]:
    """(size, why): the largest of `sizes` <= the median shorter side (capped at CPU_SIZE_CAP without a GPU)."""
    cap = median_side if gpu else min(median_side, CPU_SIZE_CAP)
    fitting = [s for s in sizes if s <= cap]
    if not fitting:
        return min(sizes), f"the smallest size built, as the median shorter side is {median_side} px"
    size = max(fitting)
    why = f"the largest size built that is <= the median shorter side, {median_side} px"
    if not gpu and median_side > CPU_SIZE_CAP and size == max(s for s in sizes if s <= CPU_SIZE_CAP):
        why += f", capped at {CPU_SIZE_CAP} without a GPU (it trained best in 10 CPU minutes; --image-size 64 costs 4x)"
    return size, why


def resolve(cfg: Config, summary, family, *, image_size: int | None, unconditional: bool, gpu: bool):
    """(the config to train, the line to print) for `cfg` on the folder `summary` (image_folder.Summary).

    `family`: the engine.models.Family of cfg.model (an any-size one names the sizes it builds).
    Raises:
      UserError: --image-size with a fixed-shape preset, or a size the family cannot build.
    """
    if unconditional and cfg.num_classes:
        raise UserError(
            f"--unconditional: preset {cfg.preset} is class-conditional ({cfg.num_classes} classes); drop "
            "--unconditional, or train the folder preset (no --preset), which can ignore class sub-folders"
        )
    source = f"{summary.read:,} images under {summary.root}"
    kind = f"colour in {summary.colour:,} of them" if summary.colour else "all grey"
    if not family.any_size:
        if image_size is not None:
            raise UserError(
                f"--image-size: preset {cfg.preset} has the fixed shape {shape_text(cfg.image_shape)}; drop "
                "--image-size, or train the folder preset (no --preset) to pick any size"
            )
        return cfg, conversion_line(cfg, summary, source, kind)
    if image_size is not None:
        if image_size not in family.sizes:
            raise UserError(
                f"--image-size {image_size}: {cfg.model} builds {', '.join(map(str, family.sizes))}; pick one"
            )
        size, why = image_size, "--image-size"
    else:
        size, why = pick_size(summary.median_side, family.sizes, gpu=gpu)
    changes = {"image_shape": (size, size, summary.channels)}
    classes = ""
    if summary.class_names and family.conditional and not unconditional and cfg.num_classes == 0:
        changes.update(model=family.conditional, num_classes=len(summary.class_names))
        classes = (
            f"; {len(summary.class_names)} class sub-folders, so the class-conditional {family.conditional} "
            "(--unconditional ignores them)"
        )
    elif summary.class_names and unconditional:
        classes = f"; its {len(summary.class_names)} class sub-folders ignored (--unconditional)"
    elif summary.sub_folders > MAX_CLASSES:
        classes = (
            f"; its {summary.sub_folders:,} sub-folders are not taken as classes (at most {MAX_CLASSES:,}): "
            "unconditional"
        )
    picked = dataclasses.replace(cfg, **changes)
    line = (
        f"image shape {shape_text(picked.image_shape)} picked from {source} ({kind}; {why}){classes}; "
        f"change it with --image-size N or --set image_shape=HxWxC"
    )
    return picked, line


def check_shape(cfg: Config, family, flag: str) -> None:
    """Refuses an image shape an any-size `family` (engine.models.Family) cannot build, in the --image-size words.

    Raises:
      UserError: not square, or a side the family does not build.
    """
    h, w, c = cfg.image_shape
    if family.any_size and (h != w or h not in family.sizes):
        side = 32 if 32 in family.sizes else family.sizes[0]
        raise UserError(
            f"{flag}={h}x{w}x{c}: {cfg.model} builds square images of side {', '.join(map(str, family.sizes))}; "
            f"pick one (e.g. {flag}={side}x{side}x{c})"
        )


def conversion_line(cfg: Config, summary, source: str, kind: str) -> str | None:
    """The line saying how a fixed-shape preset converts the folder's images, or None when nothing changes."""
    h, w, c = cfg.image_shape
    changes = []
    if summary.colour and c == 1:
        changes.append(f"colour to grey ({kind})")
    if summary.median_side != min(h, w):
        changes.append(f"a median shorter side of {summary.median_side} px to {h}x{w}")
    if not changes:
        return None
    return (
        f"converting {source}: {' and '.join(changes)}, as preset {cfg.preset} has the fixed shape "
        f"{shape_text(cfg.image_shape)}; train the folder preset (no --preset) to keep the images' own size and colour"
    )


def shape_text(shape) -> str:
    h, w, c = shape
    return f"{h}x{w}x{c} ({'RGB' if c == 3 else 'grey' if c == 1 else f'{c} channels'})"


def plan_minutes(*, gpu: bool, asked: bool) -> tuple[float, str | None]:
    """(the time limit in minutes, the line that says so) for a folder run: CPU_MINUTES on a CPU when the command
    asked for no length and no preset (`asked` False), else (0.0, None): the preset's steps or what was asked."""
    if gpu or asked:
        return 0.0, None
    return CPU_MINUTES, (
        f"training for {CPU_MINUTES:g} minutes: the length measured for a folder on a CPU (docs/folders.md); "
        "more with --time-limit 30 (a little better), --steps N, or a larger size with --image-size 64 (4x the time)"
    )
