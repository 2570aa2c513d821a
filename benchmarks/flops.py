"""FLOPs per image of a forward pass and of a GAN training step, counted analytically per layer, and the machine's
measured matmul peak, so throughput can be read as a fraction of what the hardware does.

Convention: one multiply-add = 2 FLOPs. Counted: Conv2D, Conv2DTranspose, Dense (also inside
SpectralNormalization wrappers and nested models). Ignored (small next to the convolutions here, or not
arithmetic): bias adds, activations, BatchNormalization, Dropout, pooling, UpSampling2D / Resizing, Reshape,
Embedding lookups, the losses and the optimizer's update (Adam: ~10 FLOPs per parameter per step, spread over
the batch). TensorFlow's profiler counts some of these plus every gradient op it sees, so it reports more (the
issue quotes ~274 vs ~211 MFLOP/image for the simultaneous dcgan_fashion step).
"""

import math
import time

import keras

# Training-step convention: the backward pass of a layer costs one forward for the gradient w.r.t. its input and
# one for the gradient w.r.t. its weights, so a pass whose weights are trained costs 3x forward, and a pass through
# a network whose weights are not trained but whose input needs a gradient (D inside G's loss) costs 2x forward.
# (The first layer's input gradient is not needed when its input is data; that saving is ignored.)
TRAIN_PASS = 3
INPUT_GRAD_PASS = 2
NO_GRAD_PASS = 1


def _shape(tensor_or_list):
    value = tensor_or_list[0] if isinstance(tensor_or_list, (list, tuple)) else tensor_or_list
    return tuple(value.shape)


def layer_flops(layer) -> int:
    """FLOPs per image of one built layer of a functional model (0 for the ignored kinds).

    Raises:
      ValueError: a counted layer whose shapes are unknown (the model was never called on an input).
    """
    if isinstance(layer, keras.layers.SpectralNormalization):
        inner = layer.layer
        return _counted(inner, _shape(layer.input), _shape(layer.output))
    if isinstance(layer, keras.Model):
        return forward_flops(layer)
    if isinstance(layer, (keras.layers.Conv2DTranspose, keras.layers.Conv2D, keras.layers.Dense)):
        return _counted(layer, _shape(layer.input), _shape(layer.output))
    return 0


def _counted(layer, in_shape, out_shape) -> int:
    if isinstance(layer, keras.layers.Conv2DTranspose):
        # Each input pixel scatters a kh x kw x c_out patch: 2 * H_in * W_in * kh * kw * c_in * c_out.
        kh, kw, _, c_in = layer.kernel.shape  # Keras stores transposed kernels as (kh, kw, out, in)
        return 2 * _spatial(in_shape, layer) * kh * kw * c_in * layer.filters
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw, c_in_per_group, c_out = layer.kernel.shape
        return 2 * _spatial(out_shape, layer) * kh * kw * c_in_per_group * c_out
    if isinstance(layer, keras.layers.Dense):
        n_in, n_out = layer.kernel.shape
        positions = math.prod(in_shape[1:-1])  # Dense on a rank > 2 input acts on every position
        return 2 * positions * n_in * n_out
    return 0


def _spatial(shape, layer) -> int:
    if layer.data_format == "channels_first":
        return shape[2] * shape[3]
    return shape[1] * shape[2]


def forward_flops(model: keras.Model) -> int:
    """FLOPs per image of one forward pass of a built functional/Sequential `model` (see the module convention)."""
    return sum(layer_flops(layer) for layer in model.layers)


def step_passes(update_order: str, n_critic: int = 1) -> dict[str, int]:
    """Forward-pass equivalents of G and D per real image in one engine training step.

    simultaneous (TF's DCGAN tutorial, as engine.step.gan writes it): G once, trained (3); D on the real batch, trained
    (3); D once on the fakes, trained (3) plus the gradient to its input that G's loss needs (1): 3G + 7D.
    alternating (also the tutorial idiom and the Keras-fit GAN): per D step a G pass without gradient (1) and D on
    real and fake, trained (3 + 3); then the G step: G trained (3), D input-gradient only (2): 4G + 8D for n_critic=1.
    """
    if update_order == "simultaneous":
        # The fake pass is trained and also passes gradients to G: its forward counts once, not twice.
        return {"G": TRAIN_PASS, "D": 2 * TRAIN_PASS + INPUT_GRAD_PASS - NO_GRAD_PASS}
    if update_order == "alternating":
        return {"G": n_critic * NO_GRAD_PASS + TRAIN_PASS, "D": n_critic * 2 * TRAIN_PASS + INPUT_GRAD_PASS}
    raise ValueError(f"unknown update_order {update_order!r} (valid: simultaneous, alternating)")


def step_flops(
    generator: keras.Model, discriminator: keras.Model, update_order: str = "simultaneous", n_critic: int = 1
) -> int:
    """FLOPs per real image of one training step (see `step_passes` for the passes counted).

    For dcgan_fashion (G 21.95, D 20.71 MFLOP forward) the simultaneous step is 3 * 21.95 + 7 * 20.71 = 210.8
    MFLOP/image, the issue's ~211; alternating is 4G + 8D = 253.5 (a second G pass and a second D pass on fakes).
    """
    passes = step_passes(update_order, n_critic)
    return passes["G"] * forward_flops(generator) + passes["D"] * forward_flops(discriminator)


def measure_matmul_peak(sizes=(1024, 2048, 4096), repeats: int = 3, clock=time.perf_counter) -> float:
    """The machine's fp32 matmul rate through TensorFlow in GFLOP/s: the best of `repeats` timings per size.

    The best, not the median, because the peak is what the hardware can do and noise only ever slows it down.
    """
    import tensorflow as tf

    # A reduction brings one scalar back, so the copy of the product does not count as matmul time.
    fn = tf.function(lambda x, y: tf.reduce_sum(tf.linalg.matmul(x, y)))
    best = 0.0
    for n in sizes:
        a = tf.random.stateless_normal([n, n], seed=[0, 1])
        b = tf.random.stateless_normal([n, n], seed=[0, 2])
        fn(a, b).numpy()  # trace and warm up
        for _ in range(repeats):
            start = clock()
            fn(a, b).numpy()
            best = max(best, 2 * n**3 / (clock() - start) / 1e9)
    return best
