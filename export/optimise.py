"""The generator rewritten into a faster, exact graph before conversion, so SavedModel, TFLite and ONNX all get it.

Three rewrites, each exact up to float rounding; the exporters check every file against the ORIGINAL generator:

- A "same" Conv2DTranspose of stride s is s*s stride-1 convolutions on its low-resolution input, one per output
  phase (row and column position modulo s), each with the taps of the kernel that reach that phase (5x5, stride 2:
  3x3, 3x2, 2x3, 2x2); their outputs interleave by concat + depth-to-space. Same FLOPs as the ConvTranspose, without
  its scatter-add (col2im) pass. A stride-1 Conv2DTranspose is one convolution with the kernel flipped.
- Nearest UpSampling2D(s) followed by a "same" Conv2D is likewise s*s convolutions on the low-resolution input, each
  kernel summing the taps that read the same input pixel (3x3 after 2x upsampling: four 2x2 kernels, 2.25x fewer
  FLOPs).
- BatchNormalization in inference mode is a per-channel affine y = x * scale + shift. It folds into the Dense or
  convolution before it (scaling that layer's output channels) when that layer is linear and feeds only the
  BatchNorm (through a Reshape for a Dense); else into the ConvTranspose or rewritten convolution right after it
  (scaling its input channels), whose shift then becomes a per-pixel bias: the response of the convolution to a
  constant image, exact at the borders where zero padding makes it differ from the interior.

"Sub-pixel" is the other known form of the first two: one convolution to s*s times the channels with every phase's
kernel zero-padded to a common window. It does more FLOPs (5x5, stride 2: 36 taps where the phases have 25).
Which form a layer takes comes from a rule measured per layer in the format's runtime: `choose_form` (onnxruntime,
and the SavedModel), `choose_form_litert` (TFLite: RULES); anything else stays as it was.
"""

import dataclasses

import keras
import numpy as np

from export.phase_conv import (  # noqa: F401  (tap math re-exported: tests and benchmarks read it here)
    PhaseConv,
    constant_response,
    phase_kernels,
    subpixel_kernel,
    tap_matrix,
    transpose_taps,
    upsampled_conv_taps,
)

PHASES, SUBPIXEL, KEEP = "phases", "subpixel", "keep"
FORMS = (PHASES, SUBPIXEL, KEEP)
TRANSPOSE, UPSAMPLED = "transpose", "upsampled"  # the two layer kinds a rewrite applies to


def choose_form(kind: str, stride: int, kernel: tuple, cin: int, cout: int) -> str:
    """The form a rewritable layer takes: PHASES, SUBPIXEL or KEEP (the layer as it is).

    Measured per layer in onnxruntime (1 and 2 threads, batch 1 and 256: `python -m benchmarks.export_graph
    --layers`, benchmarks/results/export_graph_layers.md, summarised in docs/export.md):
    - under MIN_CHANNELS output channels (the 64 -> 1 and 64 -> 3 output layers) one phase convolution per output
      channel is slow: 4-7x slower than a ConvTranspose, so those stay; but nearest UpSampling2D + Conv2D to one
      channel (alphabet's output) is 4-5x faster as one sub-pixel convolution (64 -> 4 channels on the 14x14 input)
      than as it is, and 2x faster than as phases;
    - a stride-2 ConvTranspose whose kernel the stride divides (4x4/2, dcgan_mnist) splits into four equal 2x2
      phases that ran at 1.03x-1.21x of it at batch 1 but 0.77x-1.04x at 256, so it stays; so does one with under
      MIN_CHANNELS input channels (1 -> 64, 3 -> 256: 0.73x-1.26x at batch 256, three of four rows slower);
    - everything else (5x5/2 with 64-256 channels, every stride-1 ConvTranspose, UpSampling2D + Conv2D to 64-128
      channels) was faster as phases: 1.2x-2.0x at batch 1, 0.99x-1.67x at 256 on 1 thread; sub-pixel (44% more
      FLOPs for 5x5/2) ran at 0.56x-1.19x of those layers and beat phases in one row only, within noise.
    """
    if cout < MIN_CHANNELS:
        return SUBPIXEL if kind == UPSAMPLED else KEEP
    if kind == TRANSPOSE and stride > 1 and (cin < MIN_CHANNELS or any(k % stride == 0 for k in kernel)):
        return KEEP
    return PHASES


MIN_CHANNELS = 8


def choose_form_litert(kind: str, stride: int, kernel: tuple, cin: int, cout: int) -> str:
    """LiteRT's rule: every stride > 1 ConvTranspose with at least MIN_CHANNELS channels in and out as phases, the
    rest as `choose_form`.

    LiteRT's float TRANSPOSE_CONV is slow where onnxruntime's ConvTranspose is not: the 4x4/2 layers that
    `choose_form` keeps for onnxruntime (its phases ran 0.77x-1.04x there at batch 256) run 2.1x-2.7x faster in
    LiteRT as phases, whole generators measured through the exporters (`python -m benchmarks.export_graph`, every
    stride-2 ConvTranspose as phases against the plain file, 1 and 2 threads, batch 1 and 256: dcgan_mnist 2.09x-2.37x,
    dcgan_any_fashion 2.41x-2.65x; docs/export.md), while the same graph in onnxruntime ran 0.95x-1.09x.
    """
    if kind == TRANSPOSE and stride > 1 and min(cin, cout) >= MIN_CHANNELS:
        return PHASES
    return choose_form(kind, stride, kernel, cin, cout)


# The rule of each export format's runtime, by format kind (export.target); a format not named takes choose_form,
# measured in onnxruntime. One rule per runtime, not per graph: a SavedModel is served by TensorFlow, whose
# ConvTranspose was not measured apart, so it takes choose_form as before.
RULES = {"tflite": choose_form_litert}


@dataclasses.dataclass
class Target:
    """A convolution to rewrite: the layer, what it is, its form, and the BatchNorm affines folded into it."""

    layer: object
    kind: str  # TRANSPOSE or UPSAMPLED
    form: str
    upsampling: object = None  # the UpSampling2D before an UPSAMPLED conv (folded into it)
    fold_in: tuple | None = None  # (scale, shift) of a BatchNorm before it
    fold_out: tuple | None = None  # (scale, shift) of a BatchNorm after it

    @property
    def stride(self) -> int:
        return self.layer.strides[0] if self.kind == TRANSPOSE else self.upsampling.size[0]

    def low_res_hw(self) -> tuple[int, int]:
        source = self.layer if self.kind == TRANSPOSE else self.upsampling
        return tuple(source.input.shape[1:3])

    def conv_kernel(self) -> np.ndarray:
        """The kernel in Conv2D layout [kh, kw, cin, cout] (a Conv2DTranspose stores [kh, kw, cout, cin])."""
        k = np.asarray(self.layer.kernel, np.float64)
        return k.transpose(0, 1, 3, 2) if self.kind == TRANSPOSE else k

    def phases(self, w: np.ndarray) -> list:
        kh, kw = self.layer.kernel_size
        s = self.stride
        if self.kind == TRANSPOSE:
            return phase_kernels(w, transpose_taps(kh, s), transpose_taps(kw, s))
        return phase_kernels(w, upsampled_conv_taps(kh, s), upsampled_conv_taps(kw, s))

    def describe(self) -> str:
        kh, kw = self.layer.kernel_size
        w = self.conv_kernel()
        what = (
            f"Conv2DTranspose {kh}x{kw}/{self.stride}"
            if self.kind == TRANSPOSE
            else f"UpSampling2D({self.stride}) + Conv2D {kh}x{kw}"
        )
        shapes = ", ".join(f"{k.shape[0]}x{k.shape[1]}" for k, _ in self.phases(w))
        form = f"{self.stride**2} phases ({shapes})" if self.form == PHASES else "sub-pixel"
        if self.stride == 1:
            form = f"one Conv ({shapes})"
        return f"{self.layer.name}: {what} {w.shape[2]}->{w.shape[3]} as {form}"


def phase_conv_layer(target: Target):
    """The PhaseConv computing `target` in its form, with the BatchNorms folded into it."""
    w = target.conv_kernel()
    bias = np.asarray(target.layer.bias, np.float64) if target.layer.use_bias else np.zeros(w.shape[3])
    if target.fold_in is not None:
        scale, shift = target.fold_in
        bias = bias + constant_response(target.phases(w), target.stride, shift, target.low_res_hw())
        w = w * scale[None, None, :, None]
    if target.fold_out is not None:
        scale, shift = target.fold_out
        w, bias = w * scale, bias * scale + shift
    if target.form == KEEP:  # a ConvTranspose kept as one, with a BatchNorm folded into it
        phases, transpose = [(w.transpose(0, 1, 3, 2), ((0, 0), (0, 0)))], True
    else:
        phases, transpose = target.phases(w), False
    if target.form == SUBPIXEL:
        phases = [subpixel_kernel(phases)]
    return PhaseConv(
        [k for k, _ in phases],
        [p for _, p in phases],
        stride=target.stride,
        bias=bias,
        activation=target.layer.activation,
        transpose=transpose,
        name=target.layer.name,
    )


class Folded(keras.layers.Layer):
    """Where a layer folded into a neighbour was: passes its input on (and takes the `mask` and `training` arguments
    a BatchNormalization was called with)."""

    def call(self, x, **kwargs):
        del kwargs
        return x

    def compute_output_shape(self, input_shape):
        return input_shape


@dataclasses.dataclass
class Plan:
    """What `optimise` changes: convolutions to rewrite, BatchNorms (and UpSamplings) that become Folded
    (pass-through) layers, new weights of plain layers a BatchNorm folded into, and one line per change."""

    targets: dict = dataclasses.field(default_factory=dict)
    identities: set = dataclasses.field(default_factory=set)
    weights: dict = dataclasses.field(default_factory=dict)
    notes: list = dataclasses.field(default_factory=list)


def resizing_for(upsampling):
    """The Resizing layer (nearest, static size) giving the same pixels as a nearest UpSampling2D layer."""
    _, h, w, _ = upsampling.input.shape
    sy, sx = upsampling.size
    return keras.layers.Resizing(h * sy, w * sx, interpolation="nearest", name=upsampling.name)


def optimise(generator, rule=choose_form):
    """The generator rewritten into its faster exact form (module docstring).

    Args:
      generator: a functional keras.Model; it is not modified.
      rule: (kind, stride, kernel, cin, cout) -> PHASES, SUBPIXEL or KEEP for each rewritable convolution.
    Returns:
      (model, notes): a new keras.Model for inference only, and one line per change (empty, with the generator
      itself, when nothing applies).
    """
    plan = make_plan(generator, rule)
    if not plan.notes:
        return generator, []

    def clone(layer):
        if layer.name in plan.identities:
            return Folded(name=layer.name)
        target = plan.targets.get(layer.name)
        if target is not None and (target.form != KEEP or target.fold_in is not None or target.fold_out is not None):
            return phase_conv_layer(target)
        if isinstance(layer, keras.layers.UpSampling2D) and layer.interpolation == "nearest":
            return resizing_for(layer)  # as export.common.exportable does for the converters
        config = layer.get_config()
        if layer.name in plan.weights and "use_bias" in config:
            config["use_bias"] = True
        return layer.__class__.from_config(config)

    model = keras.models.clone_model(generator, clone_function=clone)
    for layer in model.layers:
        if layer.weights and not isinstance(layer, PhaseConv):
            layer.set_weights(plan.weights.get(layer.name) or generator.get_layer(layer.name).get_weights())
    return model, plan.notes


def _graph(model):
    """(inputs: layer name -> producing layers, consumers: layer name -> consuming layers, shared: names of layers
    that appear more than once in the graph (never rewritten), pinned: those and the layers producing a model output
    (never folded away))."""
    nodes = [node for depth in model._nodes_by_depth.values() for node in depth]
    inputs, consumers, seen, shared = {}, {}, set(), set()
    for node in nodes:
        op = node.operation
        if op.name in seen:
            shared.add(op.name)
        seen.add(op.name)
        inputs[op.name] = [t._keras_history.operation for t in node.input_tensors]
        for producer in inputs[op.name]:
            consumers.setdefault(producer.name, []).append(op)
    return inputs, consumers, shared, shared | {t._keras_history.operation.name for t in model.outputs}


def _is_linear(layer) -> bool:
    return getattr(layer, "activation", None) is keras.activations.linear


def _rewritable(layer, inputs, consumers, shared, pinned) -> Target | None:
    """A Target (form not yet chosen) when `layer` is a convolution the rewrite handles, else None."""
    layers = keras.layers
    plain = (
        layer.name not in shared  # replaced one for one: an output layer may be rewritten, a shared one not
        and getattr(layer, "padding", None) == "same"
        and tuple(getattr(layer, "dilation_rate", ())) == (1, 1)
        and getattr(layer, "data_format", None) == "channels_last"
    )
    if not plain:
        return None
    if type(layer) is layers.Conv2DTranspose and len(set(layer.strides)) == 1 and layer.output_padding is None:
        return Target(layer, TRANSPOSE, KEEP)
    if type(layer) is layers.Conv2D and tuple(layer.strides) == (1, 1) and layer.groups == 1:
        up = inputs[layer.name][0]
        if (
            isinstance(up, layers.UpSampling2D)
            and up.name not in pinned
            and up.interpolation == "nearest"
            and len(set(up.size)) == 1
            and up.data_format == "channels_last"
            and [c.name for c in consumers[up.name]] == [layer.name]
        ):
            return Target(layer, UPSAMPLED, KEEP, upsampling=up)
    return None


def bn_affine(bn) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift) of a BatchNormalization in inference mode: y = x * scale + shift, per channel, float64."""
    mean = np.asarray(bn.moving_mean, np.float64)
    scale = 1.0 / np.sqrt(np.asarray(bn.moving_variance, np.float64) + bn.epsilon)
    if bn.scale:
        scale = scale * np.asarray(bn.gamma, np.float64)
    shift = -mean * scale + (np.asarray(bn.beta, np.float64) if bn.center else 0.0)
    return scale, shift


def make_plan(model, rule=choose_form) -> Plan:
    """Which convolutions to rewrite (and in what form) and where each BatchNorm folds (module docstring)."""
    inputs, consumers, shared, pinned = _graph(model)
    plan = Plan()
    for layer in model.layers:
        target = _rewritable(layer, inputs, consumers, shared, pinned)
        if target is None:
            continue
        w = target.conv_kernel()
        target.form = rule(target.kind, target.stride, tuple(layer.kernel_size), w.shape[2], w.shape[3])
        if target.form not in FORMS:
            raise ValueError(f"rule gave {target.form!r} for {layer.name} (valid: {', '.join(FORMS)})")
        if target.form != KEEP or target.kind == TRANSPOSE:  # a kept ConvTranspose can still take a BatchNorm
            plan.targets[layer.name] = target
            if target.upsampling is not None:
                plan.identities.add(target.upsampling.name)
    for bn in model.layers:
        if isinstance(bn, keras.layers.BatchNormalization) and bn.name not in shared:
            if bn.axis in (-1, len(bn.input.shape) - 1):
                _fold(bn, plan, inputs, consumers, pinned)
    plan.notes = [t.describe() for t in plan.targets.values() if t.form != KEEP] + plan.notes
    return plan


def _only_consumer(layer, consumer, consumers) -> bool:
    return [c.name for c in consumers.get(layer.name, [])] == [consumer.name]


def _fold(bn, plan: Plan, inputs, consumers, pinned) -> None:
    """Folds `bn` into the linear layer before it, else into the rewritten convolution after it, else leaves it."""
    layers = keras.layers
    scale, shift = bn_affine(bn)
    before, reshape = inputs[bn.name][0], None
    if isinstance(before, layers.Reshape) and before.name not in pinned and _only_consumer(before, bn, consumers):
        reshape, before = before, inputs[before.name][0]
    kinds = (layers.Dense,) if reshape is not None else (layers.Dense, layers.Conv2D, layers.Conv2DTranspose)
    if (
        type(before) in kinds
        and before.name not in pinned
        and _is_linear(before)
        and _only_consumer(before, reshape or bn, consumers)
    ):
        n_out = before.kernel.shape[2 if type(before) is layers.Conv2DTranspose else -1]
        if n_out % len(scale) == 0 and (reshape is not None or n_out == len(scale)):
            reps = n_out // len(scale)
            if before.name in plan.targets:
                plan.targets[before.name].fold_out = (scale, shift)
            else:
                plan.weights[before.name] = folded_weights(before, np.tile(scale, reps), np.tile(shift, reps))
            plan.identities.add(bn.name)
            plan.notes.append(f"{bn.name}: BatchNorm folded into {before.name} (its output channels)")
            return
    after = consumers.get(bn.name, [])
    if len(after) != 1:
        return
    target = plan.targets.get(after[0].name) or next(
        (t for t in plan.targets.values() if t.upsampling is after[0]), None
    )
    if target is not None and target.fold_in is None and target.conv_kernel().shape[2] == len(scale):
        target.fold_in = (scale, shift)
        plan.identities.add(bn.name)
        plan.notes.append(
            f"{bn.name}: BatchNorm folded into {target.layer.name} (its input channels; the shift as a per-pixel bias)"
        )


def folded_weights(layer, scale: np.ndarray, shift: np.ndarray) -> list[np.ndarray]:
    """[kernel, bias] of a Dense, Conv2D or Conv2DTranspose followed by the affine x * scale + shift per output unit."""
    kernel = np.asarray(layer.kernel, np.float64)
    shape = [1] * kernel.ndim
    shape[2 if isinstance(layer, keras.layers.Conv2DTranspose) else -1] = -1
    bias = np.asarray(layer.bias, np.float64) if layer.use_bias else 0.0
    return [(kernel * scale.reshape(shape)).astype(np.float32), (bias * scale + shift).astype(np.float32)]


def for_export(generator, plain: bool = False, kind: str | None = None):
    """(the Keras model an exporter converts, notes): the optimised graph for the format `kind` (its RULES entry,
    else choose_form), or with `plain` the generator itself."""
    return (generator, []) if plain else optimise(generator, RULES.get(kind, choose_form))
