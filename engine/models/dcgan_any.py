"""dcgan_any: a DCGAN for any square size and 1 or 3 channels, the engine's family for a user's own folder.

A size is `base * 2**k` with base 4, 3, 5 or 7 and k >= 1 (`blocks`): 16 = 4 * 2**2, 28 = 7 * 2**2, 32, 40 = 5 * 2**3,
48 = 3 * 2**4, 64, 96 = 3 * 2**5, 128, and others between 8 and 256 (SIZES).
G: z -> Dense(base x base x ch) -> BN, ReLU -> k up-blocks [Conv2DTranspose(ch, 4, stride 2), BN, ReLU] ->
   Conv2D(C, 3) -> tanh. D: image -> k down-blocks [Conv2D(ch, 4, stride 2), LeakyReLU(0.2)] -> Flatten -> Dense(1).
No BatchNorm in D (its statistics would mix real and generated batches; Radford et al. 2016 leave it out of D's input
layer, WGAN-GP and StyleGAN out of D altogether). The channels at a resolution r are min(256, 32 * size / r) times
`cfg.width`: 32 at full size, doubling per halving, so each block costs about the same. D's take `cfg.d_width`
instead when it is > 0 (the folder recipe's D is half as wide as G: docs/folders.md). `cfg.g_skip_excitation` adds
FastGAN's skip-layer excitation to G (`skip_excitation`: the features at r gate the channels at 4r).

Class-conditional (`cdcgan_any`, chosen by engine.train when a folder has class sub-folders): G concatenates an
Embedding of the label to z; D is a projection discriminator (Miyato and Koyama 2018): logit = Dense(h) + <Embed(y), h>
with h D's features averaged over space after the last block.
"""

import keras
from keras import layers

from engine.config import Config
from engine.models.family import register

BASES = (4, 3, 5, 7)  # tried in this order: 4 x 4 is the usual DCGAN start, the others reach 28, 40, 48, 96
SIZES = tuple(sorted({b * 2**k for b in BASES for k in range(1, 7) if 8 <= b * 2**k <= 256}))
LABEL_EMBEDDING = 64
FULL_SIZE_CHANNELS, MAX_CHANNELS = 32, 256
SKIP = 2  # skip-layer excitation (cfg.g_skip_excitation): the features at r gate those at r * 2**SKIP (FastGAN: 16x)


def blocks(size: int) -> tuple[int, int]:
    """(base, k) with base * 2**k == size, base from BASES, k >= 1. Raises ValueError for an unsupported size."""
    for base in BASES:
        k, rest = 0, size
        while rest % 2 == 0 and rest > base:
            rest, k = rest // 2, k + 1
        if rest == base and k >= 1:
            return base, k
    raise ValueError(
        f"dcgan_any builds square sizes base * 2**k (base 3, 4, 5 or 7), e.g. {', '.join(map(str, SIZES))}"
    )


def channels(cfg: Config, resolution: int, width: float | None = None) -> int:
    """The channels at `resolution`: min(MAX_CHANNELS, FULL_SIZE_CHANNELS * size / resolution) x `width` (G's)."""
    size = cfg.image_shape[0]
    width = cfg.width if width is None else width
    return max(1, round(min(MAX_CHANNELS, FULL_SIZE_CHANNELS * size // resolution) * width))


def d_width(cfg: Config) -> float:
    """D's channel multiplier: `d_width` when set, else G's `width`."""
    return cfg.d_width or cfg.width


def check_shape(cfg: Config) -> None:
    h, w, c = cfg.image_shape
    if h != w or c not in (1, 3):
        raise ValueError(f"dcgan_any builds square images with 1 or 3 channels, not {cfg.image_shape}")
    blocks(h)


def generator_body(x, cfg: Config):
    """Latent features [b, n] -> image [b, size, size, C] in cfg.output_range."""
    check_shape(cfg)
    size, _, c = cfg.image_shape
    base, k = blocks(size)
    x = layers.Dense(base * base * channels(cfg, base), use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.Reshape((base, base, channels(cfg, base)))(x)
    stages = [x]  # the features at each resolution, base * 2**i
    for i in range(1, k + 1):
        ch = max(channels(cfg, base * 2**i), cfg.g_min_channels)  # more at the finest resolutions: their detail
        x = layers.Conv2DTranspose(ch, 4, strides=2, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        if cfg.g_skip_excitation and i >= SKIP:
            x = skip_excitation(stages[i - SKIP], x, base)
        stages.append(x)
    return layers.Conv2D(c, 3, padding="same", activation=cfg.output_activation, dtype="float32", name="image")(x)


def skip_excitation(small, big, base: int):
    """FastGAN's skip-layer excitation (Liu et al. 2021, their SEBlock): the features `small` at a coarse resolution,
    pooled to base x base, a base x base convolution to one value per channel of `big`, Swish, a 1x1 convolution and
    a sigmoid, gate each channel of `big` (SKIP doublings finer): the coarse layout reaches the fine layers directly."""
    pool = small.shape[1] // base
    gate = layers.AveragePooling2D(pool)(small) if pool > 1 else small
    gate = layers.Conv2D(big.shape[-1], base, use_bias=False)(gate)  # valid: [b, 1, 1, channels of big]
    gate = layers.Activation("swish")(gate)
    gate = layers.Conv2D(big.shape[-1], 1, use_bias=False, activation="sigmoid")(gate)
    return layers.Multiply()([big, gate])


def features(image, cfg: Config):
    """D's body: image -> features after the k down-blocks [b, base, base, ch]."""
    check_shape(cfg)
    size = cfg.image_shape[0]
    base, k = blocks(size)
    x = image
    for i in range(k - 1, -1, -1):
        x = layers.Conv2D(channels(cfg, base * 2**i, d_width(cfg)), 4, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
    return x


def build_generator(cfg: Config) -> keras.Model:
    z = keras.Input((cfg.latent_dim,), name="z")
    return keras.Model(z, generator_body(z, cfg), name="generator")


def build_discriminator(cfg: Config) -> keras.Model:
    image = keras.Input(cfg.image_shape, name="image")
    logit = layers.Dense(1, dtype="float32", name="logit")(layers.Flatten()(features(image, cfg)))
    return keras.Model(image, logit, name="discriminator")


def build_conditional_generator(cfg: Config) -> keras.Model:
    z = keras.Input((cfg.latent_dim,), name="z")
    label = keras.Input((), dtype="int32", name="label")
    x = layers.Concatenate()([z, layers.Embedding(cfg.num_classes, LABEL_EMBEDDING)(label)])
    return keras.Model([z, label], generator_body(x, cfg), name="generator")


def build_projection_discriminator(cfg: Config) -> keras.Model:
    """[image, label] -> logit = Dense(h) + <Embedding(label), h>, h = D's features summed over space."""
    image = keras.Input(cfg.image_shape, name="image")
    label = keras.Input((), dtype="int32", name="label")
    x = features(image, cfg)
    h = layers.GlobalAveragePooling2D()(x)  # the mean, not the sum: the same direction, a size-free scale
    embedded = layers.Embedding(cfg.num_classes, x.shape[-1])(label)
    projection = layers.Dot(axes=1)([embedded, h])
    logit = layers.Add(dtype="float32", name="logit")([layers.Dense(1)(h), projection])
    return keras.Model([image, label], logit, name="discriminator")


register("dcgan_any", build_generator, build_discriminator, any_size=True, sizes=SIZES, conditional="cdcgan_any")
register("cdcgan_any", build_conditional_generator, build_projection_discriminator, "input", any_size=True, sizes=SIZES)
