"""Stride-1 phase convolutions: the exact low-resolution form of a strided ConvTranspose or of nearest upsampling
followed by a convolution (export.optimise), as numpy kernels and the Keras layer that runs them.

Along each axis a layer of output stride s is s "phases" (output positions modulo s); output s * m + r of phase r is
a sum of input m + d times tap t over a fixed list of (d, t) pairs, so each phase is a stride-1 convolution on the
input whose kernel gathers (and, after upsampling, sums) those taps. The 2-D kernel of phase (ry, rx) is
A_ry W A_rx^T per channel pair, with A the 0/1 tap matrices of `tap_matrix`.
"""

import keras
import numpy as np


def transpose_taps(kernel: int, stride: int) -> list[list[tuple[int, int]]]:
    """Along one axis of a "same" Conv2DTranspose: per output phase r, the (input offset d, tap t) pairs with
    out[stride * m + r] += in[m + d] * W[t]. TensorFlow pads the equivalent forward convolution by
    max(kernel - stride, 0) // 2 before, so output o = stride * i + t - pad."""
    pad = max(kernel - stride, 0) // 2
    return [[((r + pad - t) // stride, t) for t in range(kernel) if (r + pad - t) % stride == 0] for r in range(stride)]


def upsampled_conv_taps(kernel: int, factor: int) -> list[list[tuple[int, int]]]:
    """Along one axis of a "same" stride-1 Conv2D after nearest upsampling by `factor` (1: no upsampling): per output
    phase r, the (input offset d, tap t) pairs with out[factor * m + r] += in[m + d] * W[t]."""
    pad = (kernel - 1) // 2
    return [[((r + t - pad) // factor, t) for t in range(kernel)] for r in range(factor)]


def tap_matrix(taps: list[tuple[int, int]], kernel: int) -> tuple[np.ndarray, tuple[int, int]]:
    """(A [n, kernel], (pad before, pad after)): the phase's kernel along this axis is A @ W, read at offsets
    -pad_before .. pad_after of the input (offset 0 always included, so pads are never negative)."""
    offsets = [d for d, _ in taps] or [0]
    lo, hi = min(min(offsets), 0), max(max(offsets), 0)
    a = np.zeros((hi - lo + 1, kernel))
    for d, t in taps:
        a[d - lo, t] += 1.0
    return a, (-lo, hi)


def phase_kernels(w: np.ndarray, taps_y, taps_x) -> list[tuple[np.ndarray, tuple]]:
    """Per output phase (row-major over (ry, rx)): (kernel [ny, nx, cin, cout], ((top, bottom), (left, right)))
    of a stride-1 convolution on the low-resolution input. `w` is [kh, kw, cin, cout] (Conv2D layout)."""
    phases = []
    for ty in taps_y:
        ay, pads_y = tap_matrix(ty, w.shape[0])
        for tx in taps_x:
            ax, pads_x = tap_matrix(tx, w.shape[1])
            phases.append((np.einsum("va,ub,abio->vuio", ay, ax, w), (pads_y, pads_x)))
    return phases


def subpixel_kernel(phases) -> tuple[np.ndarray, tuple]:
    """One kernel over the union of the phases' windows, the phases stacked on the output channels in
    depth-to-space order (zero taps where a phase's window is smaller)."""
    top, bottom = (max(p[0][i] for _, p in phases) for i in (0, 1))
    left, right = (max(p[1][i] for _, p in phases) for i in (0, 1))
    cin, cout = phases[0][0].shape[2:]
    big = np.zeros((top + bottom + 1, left + right + 1, cin, len(phases) * cout))
    for i, (k, ((pt, _), (pl, _))) in enumerate(phases):
        y0, x0 = top - pt, left - pl
        big[y0 : y0 + k.shape[0], x0 : x0 + k.shape[1], :, i * cout : (i + 1) * cout] = k
    return big, ((top, bottom), (left, right))


def constant_response(phases, stride: int, shift: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """[H * stride, W * stride, cout]: the phase convolutions (no bias) applied to an H x W image whose every pixel
    is `shift`, with zero padding outside it (float64, exact)."""
    h, w = hw
    cout = phases[0][0].shape[3]
    out = np.zeros((h * stride, w * stride, cout))
    for i, (k, ((pt, pb), (pl, pr))) in enumerate(phases):
        ry, rx = divmod(i, stride)
        per_tap = np.einsum("vuco,c->vuo", k, shift)
        inside = np.pad(np.ones((h, w)), ((pt, pb), (pl, pr)))
        y = np.zeros((h, w, cout))
        for v in range(k.shape[0]):
            for u in range(k.shape[1]):
                y += inside[v : v + h, u : u + w, None] * per_tap[v, u]
        out[ry::stride, rx::stride] = y
    return out


def _padding(pads, shape):
    """tf.nn.conv2d's padding for explicit ((top, bottom), (left, right)): "VALID"/"SAME" where they match."""
    if pads == ((0, 0), (0, 0)):
        return "VALID"
    if all(p == ((n - 1) // 2, n - 1 - (n - 1) // 2) for p, n in zip(pads, shape[:2], strict=True)):
        return "SAME"
    return [[0, 0], list(pads[0]), list(pads[1]), [0, 0]]


class PhaseConv(keras.layers.Layer):
    """Stride-1 convolutions on one input, interleaved by depth-to-space when `stride` > 1, plus a bias (per channel,
    or per output pixel when a BatchNorm's shift was folded in), then the activation. With `transpose`, one "same"
    ConvTranspose of `stride` instead (kernel [kh, kw, cout, cin]), for a kept layer a BatchNorm folded into.
    Inference only: the weights are constants derived from another layer's (not trainable, not serialisable)."""

    def __init__(self, kernels, pads, *, stride: int, bias, activation=None, transpose: bool = False, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self._values = [np.asarray(k, np.float32) for k in kernels]
        self._bias_value = np.asarray(bias, np.float32)
        self.pads = [tuple(tuple(int(v) for v in p) for p in pad) for pad in pads]
        self.stride = stride
        self.activation = keras.activations.get(activation)
        self.transpose = transpose
        if transpose:
            self.filters = self._values[0].shape[2]
        else:
            self.filters = self._values[0].shape[3] // (1 if len(self._values) > 1 else stride * stride)

    def build(self, input_shape):
        self.kernels = [self._constant(f"kernel_{i}", v) for i, v in enumerate(self._values)]
        self.bias = self._constant("bias", self._bias_value)
        self.built = True

    def _constant(self, name, value):
        variable = self.add_weight(name=name, shape=value.shape, initializer="zeros", trainable=False)
        variable.assign(value)
        return variable

    def call(self, x):
        import tensorflow as tf

        if self.transpose:
            s, (_, h, w, _) = self.stride, x.shape
            shape = tf.stack([tf.shape(x)[0], h * s, w * s, self.filters])
            y = tf.nn.conv2d_transpose(x, self.kernels[0].value, shape, s, padding="SAME")
            return self.activation(y + self.bias.value)
        ys = [tf.nn.conv2d(x, k.value, 1, _padding(p, k.shape)) for k, p in zip(self.kernels, self.pads, strict=True)]
        y = ys[0] if len(ys) == 1 else tf.concat(ys, axis=-1)
        if self.stride > 1:
            y = tf.nn.depth_to_space(y, self.stride)
        return self.activation(y + self.bias.value)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        s = self.stride
        return (b, None if h is None else h * s, None if w is None else w * s, self.filters)
