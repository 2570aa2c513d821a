"""What every exported generator carries about itself, so an embedding app needs no other knowledge.

Stored as ONNX `metadata_props` (each value JSON-encoded) and as a JSON sidecar `<file>.json` beside every export
(ONNX too, for readers without access to `metadata_props`, such as onnxruntime-web). No TensorFlow import here:
the runtime reads it.

Keys (all present in every export):
  latent_dim           int, size of input `z`
  latent_distribution  "normal" (standard normal) or "uniform"
  latent_range         [lo, hi] for "uniform", null for "normal"
  num_classes          int, 0 for unconditional generators (then there is no `label` input)
  class_names          list of str, one per class (empty when unconditional)
  output_range         [lo, hi] of `image` values, e.g. [-1, 1] for tanh, [0, 1] for sigmoid
  layout               axis order of `image`: "NHWC", or "NCHW" for channels-first exports (`export.onnx --nchw`)
  image_shape          [H, W, C] whatever the layout
  preset               name of the training preset
  step                 training step of the exported weights
  checkpoint_sha256    sha256 of the checkpoint data the weights came from
  engine_version       version of this package that exported it
Optional keys, written by every exporter (files from before they existed lack them; readers default them to
"float32" and "plain"):
  variant              numeric variant of the weights and arithmetic, a name declared in VARIANTS: "float32",
                       "float16" (weights stored in float16), "dynamic" (int8 weights, float activations) or "int8"
                       (full integer arithmetic)
  graph                "optimised" (export.optimise rewrote the layers into an exact faster form) or "plain" (the
                       generator's own layers, `--plain`)
Inputs: `z` float32 [batch, latent_dim]; `label` int32 [batch] when num_classes > 0. Output: `image` float32, in
every variant (quantised files convert at their edges), so one calling convention fits every file.
"""

import dataclasses
import json
from pathlib import Path

from safeio import printable, replace_file  # noqa: F401  (re-exported for the exporters' callers)

KEYS = (
    "latent_dim",
    "latent_distribution",
    "latent_range",
    "num_classes",
    "class_names",
    "output_range",
    "layout",
    "image_shape",
    "preset",
    "step",
    "checkpoint_sha256",
    "engine_version",
)
OPTIONAL_KEYS = ("variant", "graph")


@dataclasses.dataclass(frozen=True)
class Variant:
    """One numeric variant of an exported file's weights and arithmetic, declared once: the metadata accepts its
    name, the parity check holds the file to its budget, and each Format that offers it says how it is written.

    Attributes:
      name: its metadata value ("float16").
      lsb_budget: (max, mean) abs error against the float32 Keras generator, in output steps of (hi - lo) / 255
        (one grey level of the uint8 image an app shows); None for float32, held to an absolute 1e-4 instead.
    """

    name: str
    lsb_budget: tuple[float, float] | None = None


VARIANTS: dict[str, Variant] = {}  # name -> Variant, in the order declared (register_variant)


def register_variant(variant: Variant) -> Variant:
    """Declares a numeric variant. Raises ValueError when another variant of that name was declared before."""
    if VARIANTS.get(variant.name, variant) != variant:
        raise ValueError(f"variant {variant.name!r} is already declared, as {VARIANTS[variant.name]}")
    VARIANTS[variant.name] = variant
    return variant


# The budgets are about twice the worst measured over 512 latents of dcgan_fashion (README "Variants"): float16
# rounds each weight to 11 significant bits (max 0.21 steps measured); dynamic quantises weights to int8 (max 7.3,
# mean 0.48); int8 also rounds every activation to 8 bits, and those errors compound through the layers (max 31,
# mean 2.5). The mean bounds are what catch a broken conversion.
register_variant(Variant("float32"))
register_variant(Variant("float16", lsb_budget=(1.0, 0.1)))
register_variant(Variant("dynamic", lsb_budget=(16.0, 1.5)))
register_variant(Variant("int8", lsb_budget=(64.0, 6.0)))
LAYOUTS = ("NHWC", "NCHW")
GRAPHS = ("plain", "optimised")


def check(meta: dict) -> dict:
    """Returns `meta` if it has the documented keys (KEYS, maybe OPTIONAL_KEYS), else raises ValueError naming them."""
    missing = [k for k in KEYS if k not in meta]
    extra = [k for k in meta if k not in KEYS + OPTIONAL_KEYS]
    if missing or extra:
        raise ValueError(f"generator metadata: missing keys {missing}, unknown keys {extra}")
    return meta


def to_props(meta: dict) -> dict[str, str]:
    """Encodes metadata as the string->string map ONNX `metadata_props` holds."""
    return {k: json.dumps(v) for k, v in check(meta).items()}


def from_props(props: dict[str, str]) -> dict:
    """Decodes ONNX `metadata_props`; keys outside KEYS and OPTIONAL_KEYS are ignored."""
    return {k: json.loads(v) for k, v in props.items() if k in KEYS + OPTIONAL_KEYS}


def for_variant(meta: dict, *, variant: str = "float32", layout: str = "NHWC", graph: str = "plain") -> dict:
    """`meta` describing one exported file: its numeric variant, the layout of its `image` output and its graph.

    Raises:
      ValueError: an unknown variant, layout or graph (the valid ones are listed).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} (valid: {', '.join(VARIANTS)})")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r} (valid: {', '.join(LAYOUTS)})")
    if graph not in GRAPHS:
        raise ValueError(f"unknown graph {graph!r} (valid: {', '.join(GRAPHS)})")
    return check({**meta, "variant": variant, "layout": layout, "graph": graph})


def sidecar_path(model_path: str | Path) -> Path:
    """The JSON sidecar beside an exported file or SavedModel directory: `<path>.json`."""
    p = Path(model_path)
    return p.with_name(p.name + ".json")


def write_sidecar(model_path: str | Path, meta: dict) -> Path:
    """Writes `<model_path>.json` (ASCII JSON: any name is escaped) as a new file renamed into place."""
    path = sidecar_path(model_path)
    replace_file(path, (json.dumps(check(meta), indent=2) + "\n").encode("ascii"))
    return path


def read_sidecar(model_path: str | Path) -> dict:
    return json.loads(sidecar_path(model_path).read_text())
