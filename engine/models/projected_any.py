"""projected_any: dcgan_any's generator against a discriminator on frozen pretrained features (Projected GAN).

Sauer et al., "Projected GANs Converge Faster" (NeurIPS 2021): D sees the images through a frozen network trained on
ImageNet, so it starts out knowing edges, strokes and flat colour regions instead of learning them from the few
images of a user's folder. Here the network is MobileNetV2's stem through block_10 (engine.models.backbones; npm
nsfwjs 4.4.0's frozen ImageNet layers), and D is, per Projected GAN:

  image [b, S, S, C] in [-1, 1] -> RGB (grey tiled) -> resized to cfg.feature_size (bilinear) -> the frozen network
  (BatchNorm in inference mode) at strides 4, 8 and 16 -> fixed random 1x1 projections per scale (cross-channel
  mixing) -> cross-scale mixing (each deeper mix upsampled, projected and added to the next shallower) -> a small
  trained head per scale: [spectral-normalized Conv2D(4, stride 2), LeakyReLU(0.2)] down to 4x4, then a
  spectral-normalized Conv2D(1, 4, valid) -> logits [b, 3], one per scale. The losses average over them
  (engine.step.losses).

Only the heads are trained: the network and the projections are fixed (`trainable = False`), though G's gradient
flows through all of them. G is dcgan_any's, unchanged, so every export, the runtime and the browser demo are too.
Class-conditional (`cprojected_any`): G takes [z, label] as in cdcgan_any; each head adds the projection term
<Embedding(label), h> (Miyato and Koyama 2018) to its logit, h the head's 4x4 features averaged over space.
"""

import keras
from keras import layers

from engine.config import Config
from engine.models import dcgan_any
from engine.models.backbones import mobilenet_v2
from engine.models.family import register

# (the frozen network's layer, the channels of its random projection) per scale, shallow to deep: strides 4, 8, 16
SCALES = (("block_2_add", 32), ("block_5_add", 64), ("block_10_project_BN", 128))
HEAD_SIZE = 4  # each head downsamples to 4x4 before its 4x4 valid convolution
MAX_HEAD_CHANNELS = 256


def check(cfg: Config) -> None:
    dcgan_any.check_shape(cfg)
    if cfg.spectral_norm:
        raise ValueError("projected_any's D has frozen layers that spectral_norm would re-initialise; set it False")
    if cfg.feature_size % 16 or cfg.feature_size < 4 * 16:
        raise ValueError(f"feature_size={cfg.feature_size}: a multiple of 16, >= 64 (4x4 at the deepest scale)")


def fixed(layer):
    layer.trainable = False
    return layer


def projected_features(image, cfg: Config):
    """The fixed part of D: image -> the mixed features per scale, shallow to deep (nothing in it is trained)."""
    check(cfg)
    x = image
    if cfg.image_shape[2] == 1:
        x = layers.Concatenate()([x, x, x])
    if cfg.image_shape[0] != cfg.feature_size:
        x = layers.Resizing(cfg.feature_size, cfg.feature_size, interpolation="bilinear")(x)
    if cfg.output_range != (-1.0, 1.0):  # the network takes [-1, 1], MobileNetV2's own preprocessing range
        low, high = cfg.output_range
        x = layers.Rescaling(2.0 / (high - low), offset=-1.0 - 2.0 * low / (high - low))(x)
    weights = None if cfg.feature_weights == "random" else cfg.feature_weights
    network = mobilenet_v2.build(cfg.feature_size, tuple(name for name, _ in SCALES), weights=weights)
    found = network(x, training=False)
    init = keras.initializers.HeNormal  # Projected GAN's projections: Kaiming-normal, never trained
    mixed = [
        fixed(layers.Conv2D(ch, 1, kernel_initializer=init()))(f) for f, (_, ch) in zip(found, SCALES, strict=True)
    ]
    for i in range(len(mixed) - 2, -1, -1):  # deep to shallow: each scale gets the mix of everything deeper
        up = layers.UpSampling2D(interpolation="bilinear")(mixed[i + 1])
        mixed[i] = layers.Add()([mixed[i], fixed(layers.Conv2D(SCALES[i][1], 1, kernel_initializer=init()))(up)])
    return mixed


def normalized(layer):
    """Spectral normalization, as Projected GAN's heads have: it keeps D's logits from running away while the
    frozen features let it tell real from generated within a few hundred steps."""
    return layers.SpectralNormalization(layer)


def head(x, cfg: Config):
    """A trained head on one scale's mixed features: down to 4x4 -> ([b, 1] logit, the 4x4 features)."""
    while x.shape[1] > HEAD_SIZE:
        channels = round(min(MAX_HEAD_CHANNELS, 2 * x.shape[-1]) * dcgan_any.d_width(cfg))
        x = layers.LeakyReLU(0.2)(normalized(layers.Conv2D(max(1, channels), 4, strides=2, padding="same"))(x))
    logit = layers.Flatten()(normalized(layers.Conv2D(1, HEAD_SIZE, padding="valid"))(x))
    return logit, x


def build_discriminator(cfg: Config) -> keras.Model:
    image = keras.Input(cfg.image_shape, name="image")
    logits = [head(x, cfg)[0] for x in projected_features(image, cfg)]
    out = layers.Concatenate(dtype="float32", name="logit")(logits)
    return keras.Model(image, out, name="discriminator")


def build_projection_discriminator(cfg: Config) -> keras.Model:
    """[image, label] -> [b, 3]: each head's logit plus <Embedding(label), h>, h its 4x4 features' spatial mean."""
    image = keras.Input(cfg.image_shape, name="image")
    label = keras.Input((), dtype="int32", name="label")
    logits = []
    for x in projected_features(image, cfg):
        logit, h = head(x, cfg)
        h = layers.GlobalAveragePooling2D()(h)
        projection = layers.Dot(axes=1)([layers.Embedding(cfg.num_classes, h.shape[-1])(label), h])
        logits.append(layers.Add()([logit, projection]))
    out = layers.Concatenate(dtype="float32", name="logit")(logits)
    return keras.Model([image, label], out, name="discriminator")


CREDITS = f"D trained on frozen pretrained features: {mobilenet_v2.SOURCE}. {mobilenet_v2.LICENCE}"
register(
    "projected_any",
    dcgan_any.build_generator,
    build_discriminator,
    any_size=True,
    sizes=dcgan_any.SIZES,
    conditional="cprojected_any",
    credits=CREDITS,
)
register(
    "cprojected_any",
    dcgan_any.build_conditional_generator,
    build_projection_discriminator,
    "input",
    any_size=True,
    sizes=dcgan_any.SIZES,
    credits=CREDITS,
)
