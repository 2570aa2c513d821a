"""Each tutorial family has exactly its recipe's layers (pinned counts), the right shapes and range, and a `.keras`
generator that reloads to the same outputs (what exports and sample tooling read)."""

import dataclasses

import keras
import numpy as np
import pytest

# The engine.models package imports only dcgan_fashion; importing a family module registers it.
import engine.models.acgan_mnist  # noqa: F401
import engine.models.alphabet  # noqa: F401
import engine.models.balanced_dcgan_mnist  # noqa: F401
import engine.models.dcgan_faces  # noqa: F401
import engine.models.dcgan_mnist  # noqa: F401
from engine import models
from engine.presets import get_preset

# name: (image_shape, latent_dim, num_classes, output_activation, latent_distribution, G params, D params)
FAMILIES = {
    "alphabet": ((28, 28, 1), 100, 0, "tanh", "normal", 6_595_073, 1_026_305),
    "dcgan_mnist": ((28, 28, 1), 100, 0, "sigmoid", "normal", 1_164_289, 40_705),
    "acgan_mnist": ((28, 28, 1), 100, 10, "tanh", "normal", 857_705, 120_075),
    # No published counts: pinned from the build, which matches a hand count of the recipes.
    "dcgan_faces": ((40, 40, 3), 64, 0, "sigmoid", "uniform", 1_053_555, 4_320_705),
    "balanced_dcgan_mnist": ((28, 28, 1), 64, 0, "sigmoid", "uniform", 210_065, 1_812_481),
}
BATCH = 4


def family_config(name):
    shape, latent, classes, activation, distribution, _, _ = FAMILIES[name]
    return dataclasses.replace(
        get_preset("dcgan_fashion"),
        model=name,
        image_shape=shape,
        latent_dim=latent,
        num_classes=classes,
        output_activation=activation,
        latent_distribution=distribution,
    )


def generator_inputs(cfg, seed=0):
    rng = np.random.default_rng(seed)
    shape = (BATCH, cfg.latent_dim)
    z = rng.uniform(size=shape) if cfg.latent_distribution == "uniform" else rng.standard_normal(shape)
    z = z.astype(np.float32)
    if cfg.num_classes:
        return [z, np.arange(BATCH, dtype=np.int32) % cfg.num_classes]
    return z


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def built(request):
    cfg = family_config(request.param)
    return request.param, cfg, models.build_generator(cfg), models.build_discriminator(cfg)


def test_parameter_counts_match_the_recipes(built):
    name, _, g, d = built
    assert (g.count_params(), d.count_params()) == FAMILIES[name][5:]


def test_shapes_and_output_range(built):
    _, cfg, g, d = built
    images = np.asarray(g(generator_inputs(cfg), training=False))
    assert images.shape == (BATCH, *cfg.image_shape)
    low, high = cfg.output_range
    assert images.min() >= low and images.max() <= high
    outputs = d(images, training=False)
    if cfg.num_classes:
        logit, class_logits = outputs
        assert np.asarray(logit).shape == (BATCH, 1)
        assert np.asarray(class_logits).shape == (BATCH, cfg.num_classes)
    else:
        assert np.asarray(outputs).shape == (BATCH, 1)


def test_keras_file_round_trip(built, tmp_path):
    name, cfg, g, _ = built
    path = tmp_path / f"{name}.keras"
    g.save(path)
    loaded = keras.saving.load_model(path)
    inputs = generator_inputs(cfg, seed=1)
    np.testing.assert_allclose(
        np.asarray(loaded(inputs, training=False)), np.asarray(g(inputs, training=False)), atol=1e-6
    )


def test_acgan_generator_depends_on_the_label():
    cfg = family_config("acgan_mnist")
    g = models.build_generator(cfg)
    z = np.repeat(np.random.default_rng(0).standard_normal((1, cfg.latent_dim)).astype(np.float32), 10, axis=0)
    images = np.asarray(g([z, np.arange(10, dtype=np.int32)], training=False)).reshape(10, -1)
    for i in range(1, 10):
        assert np.abs(images[i] - images[0]).max() > 1e-6, f"label {i} gives the same image as label 0"
