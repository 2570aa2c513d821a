"""A feature space that needs no download and no training: PCA of the pixels, fitted on a folder's real images.

For a folder of the user's own images there is no classifier to borrow features from. Every image (real or
generated, any size) is resized to FEATURE_SIDE on its longer side (32x32 for square images; colour kept) and seen
through two views, each projected on its COMPONENTS leading principal components of the real images:

  pixels   the image itself: layout, colour, coarse shape (what the leading components of images hold)
  detail   the image minus its 2x-blurred self (a Laplacian-pyramid band): edges and fine structure at the
           feature size, whose energy blur removes and noise inflates

Each view is scaled so that its components' variances average 1 on the real images: the two views weigh the same
(the detail band holds a few percent of the pixel energy; unscaled, blur would barely move FID), while inside a
view the components keep their relative sizes (distances are the pixel view's Euclidean distances restricted to the
leading components). Whitening every component was measured too (docs/quality.md): it amplifies the poorly
estimated small components, raising the real-vs-real floor, and puts noise inside the real k-NN balls.

So a generator that always outputs the real mean image scores FID = the number of features (2 x COMPONENTS); the
floor (real vs real at a few thousand images) is a few units. Blind to: anything finer than 1/FEATURE_SIDE of the
image, and to what an image depicts (two objects of one colour and outline are close). See docs/quality.md.
"""

import numpy as np

FEATURE_SIDE = 32  # longer side of the images the features see
COMPONENTS = 64  # principal components kept per view
IMAGES_PER_COMPONENT = 16  # fewer components when fitted on fewer images: a subspace estimated from enough images
VIEWS = ("pixels", "detail")
VERSION = 1  # part of the cache key: bump when the features change
_BATCH = 500


def feature_shape(image_shape) -> tuple[int, int, int]:
    """(h, w, c) the features see: `image_shape` scaled to FEATURE_SIDE on its longer side, channels kept."""
    height, width, channels = (int(d) for d in image_shape)
    scale = FEATURE_SIDE / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale)), channels


def resize(images01, shape) -> np.ndarray:
    """float32 NHWC in [0, 1] -> float32 [N, *shape], the way the folder loader makes a real image of that size.

    Rounded to 8 bits and Lanczos-resized by Pillow, as engine.data.image_folder decodes a file: a generated image
    takes the path a real image of the run's size would (saved as a PNG, read at the feature size). A cheaper filter
    here than the loader's (antialiased bilinear) moved real images' own FID from 2.6 to 5.2 on the emoji folder.
    """
    from PIL import Image

    images01 = np.asarray(images01, np.float32)
    height, width, channels = shape
    if images01.ndim != 4 or images01.shape[3] != channels or channels not in (1, 3):
        raise ValueError(f"pixel features take images [N, H, W, {channels}] (1 or 3 channels), got {images01.shape}")
    images = np.clip(np.rint(images01 * 255.0), 0, 255).astype(np.uint8)
    if images.shape[1:3] != (height, width):
        out = np.empty((len(images), height, width, channels), np.uint8)
        for i, image in enumerate(images):
            resized = Image.fromarray(image[..., 0] if channels == 1 else image).resize(
                (width, height), Image.Resampling.LANCZOS
            )
            out[i] = np.asarray(resized).reshape(height, width, channels)
        images = out
    return images.astype(np.float32) / 255.0


def views(images01) -> list[np.ndarray]:
    """The VIEWS of images already at the feature shape, each flattened to [N, h * w * c] float32."""
    import tensorflow as tf

    x = np.asarray(images01, np.float32)
    h, w = x.shape[1:3]
    low = tf.image.resize(x, (max(1, h // 2), max(1, w // 2)), method="bilinear", antialias=True)
    blurred = tf.image.resize(low, (h, w), method="bilinear").numpy()
    return [x.reshape(len(x), -1), (x - blurred).reshape(len(x), -1)]


def principal_axes(centred, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The `k` leading principal axes [D, k] (unit columns) of centred rows [N, D] and their variances [k], from the
    eigendecomposition of the smaller of the Gram and scatter matrices (N x N for a few thousand images of 3,072
    pixels: far cheaper than an SVD). Axes with no variance are dropped."""
    x = np.asarray(centred, np.float64)
    small = x @ x.T if len(x) <= x.shape[1] else x.T @ x
    values, vectors = np.linalg.eigh(small)
    values, vectors = values[::-1][:k], vectors[:, ::-1][:, :k]
    values = values[values > 1e-8 * max(values[0], 1e-30)]
    vectors = vectors[:, : len(values)]
    axes = x.T @ vectors / np.sqrt(values) if len(x) <= x.shape[1] else vectors
    return axes, values / (len(x) - 1)


class PixelFeatures:
    """PCA of the VIEWS, fitted on real images at the feature shape, each view scaled to mean component variance 1.

    Attributes:
      shape: the feature shape (h, w, c) images are resized to.
      means, bases: per view, the mean [D] and the projection [D, k] (principal axes / the view's RMS component std).
    """

    def __init__(self, shape, means, bases):
        self.shape = tuple(int(d) for d in shape)
        self.means = [np.asarray(m, np.float32) for m in means]
        self.bases = [np.asarray(b, np.float32) for b in bases]

    @property
    def dims(self) -> int:
        return sum(b.shape[1] for b in self.bases)

    @classmethod
    def fit(cls, images01, *, components: int = COMPONENTS) -> "PixelFeatures":
        """Fits each view's leading `components` on `images01`, float32 NHWC in [0, 1] at the feature shape: at
        most one per IMAGES_PER_COMPONENT images, and none with no variance.

        Raises:
          ValueError: fewer than IMAGES_PER_COMPONENT images.
        """
        images01 = np.asarray(images01, np.float32)
        if len(images01) < IMAGES_PER_COMPONENT:
            raise ValueError(f"pixel features need at least {IMAGES_PER_COMPONENT} images to fit, got {len(images01)}")
        components = min(components, len(images01) // IMAGES_PER_COMPONENT)
        means, bases = [], []
        for view in views(images01):
            mean = view.mean(axis=0)
            axes, variances = principal_axes(view - mean, components)
            means.append(mean)
            bases.append((axes / np.sqrt(variances.mean())).astype(np.float32))
        return cls(images01.shape[1:], means, bases)

    def __call__(self, images01) -> np.ndarray:
        """Features [N, dims] of float32 NHWC images in [0, 1] of any size with the fitted channels."""
        images01 = resize(images01, self.shape)
        out = []
        for start in range(0, len(images01), _BATCH):
            parts = zip(views(images01[start : start + _BATCH]), self.means, self.bases, strict=True)
            out.append(np.concatenate([(v - m) @ b for v, m, b in parts], axis=1))
        return np.concatenate(out) if out else np.zeros((0, self.dims), np.float32)

    def arrays(self) -> dict:
        """The fitted state as named arrays (np.savez); `from_arrays` reads it back."""
        named = {"shape": np.array(self.shape)}
        for i, (m, b) in enumerate(zip(self.means, self.bases, strict=True)):
            named[f"mean{i}"], named[f"basis{i}"] = m, b
        return named

    @classmethod
    def from_arrays(cls, named) -> "PixelFeatures":
        n = len(VIEWS)
        return cls(named["shape"], [named[f"mean{i}"] for i in range(n)], [named[f"basis{i}"] for i in range(n)])
