"""Each seed preset against its tutorial's recipe as published, quoted from the source (see engine/presets.py)."""

import dataclasses

import keras
import pytest

from engine.optimizers import make_optimizer
from engine.presets import ENGINE_RECIPES, PRESETS, PUBLISHED, get_preset

# What each tutorial's text and code train with. optimizer: (class, G lr, D lr, Adam betas or RMSprop rho);
# length: (epochs, steps, steps per epoch; 0 = the data / batch); order: D then G ("alternating") for all five;
# d_updates: D optimizer updates per step; g_latents: G's latents per real image; latent: (distribution, width);
# dropout: the rate the networks' Dropout layers run at; targets: D's (real, fake) label targets.
RECIPES = {
    # Géron's Hands-On ML ch. 17 code on Fashion-MNIST: compile(optimizer="rmsprop"), batch 32, 10 epochs.
    "dcgan_fashion": dict(
        optimizer=("RMSprop", 1e-3, 1e-3, 0.9),
        batch=32,
        length=(10, 0, 0),
        d_updates=1,
        g_latents=1,
        fresh_g_noise=True,
        d_fakes_inference=True,
        latent=("normal", 100),
        dropout={0.3},
        targets=(1.0, 0.0),
        balance=(0.0, 0.0),
        l2=0.0,
    ),
    # The A-Z handwritten alphabet GAN: Adam(2e-4, 0.5), batch 128, 80 epochs, targets 0.9 / 0.1.
    "alphabet": dict(
        optimizer=("Adam", 2e-4, 2e-4, (0.5, 0.999)),
        batch=128,
        length=(80, 0, 0),
        d_updates=1,
        g_latents=1,
        fresh_g_noise=True,
        d_fakes_inference=False,
        latent=("normal", 100),
        dropout={0.5},
        targets=(0.9, 0.1),
        balance=(0.0, 0.0),
        l2=0.0,
    ),
    # Brownlee: Adam(2e-4, 0.5), half_batch 128 real + 128 fake for D, G on n_batch 256, 5 x int(60000/256).
    "dcgan_mnist": dict(
        optimizer=("Adam", 2e-4, 2e-4, (0.5, 0.999)),
        batch=128,
        length=(5, 0, 234),
        d_updates=1,
        g_latents=2,
        fresh_g_noise=True,
        d_fakes_inference=True,
        latent=("normal", 100),
        dropout={0.4},
        targets=(1.0, 0.0),
        balance=(0.0, 0.0),
        l2=0.0,
    ),
    # Keras-GAN acgan.py: Adam(2e-4, 0.5), train(epochs=14000, batch_size=32), D on real then on fakes, G reuses.
    "acgan_mnist": dict(
        optimizer=("Adam", 2e-4, 2e-4, (0.5, 0.999)),
        batch=32,
        length=(0, 14000, 0),
        d_updates=2,
        g_latents=1,
        fresh_g_noise=False,
        d_fakes_inference=True,
        latent=("normal", 100),
        dropout={0.25},
        targets=(1.0, 0.0),
        balance=(0.0, 0.0),
        l2=0.0,
    ),
    # Mohr DCGAN-face-creation: RMSProp D 1e-4 / G 2e-4, batch 64, 60000 steps, n_noise 64 uniform, 1.35 / 1.35.
    "dcgan_faces": dict(
        optimizer=("RMSprop", 2e-4, 1e-4, 0.9),
        batch=64,
        length=(0, 60000, 0),
        d_updates=1,
        g_latents=1,
        fresh_g_noise=False,
        d_fakes_inference=False,
        latent=("uniform", 64),
        dropout={0.0},
        targets=(1.0, 0.0),
        balance=(1.35, 1.35),
        l2=5e-7,
    ),
    # Mohr DCGAN-MNIST: RMSProp 1.5e-4 both, batch 64, 60000 steps, n_noise 64 uniform, G 1.5 / D 2, l2 1e-6 / 2.
    "balanced_dcgan_mnist": dict(
        optimizer=("RMSprop", 1.5e-4, 1.5e-4, 0.9),
        batch=64,
        length=(0, 60000, 0),
        d_updates=1,
        g_latents=1,
        fresh_g_noise=False,
        d_fakes_inference=False,
        latent=("uniform", 64),
        dropout={0.0},
        targets=(1.0, 0.0),
        balance=(1.5, 2.0),
        l2=5e-7,
    ),
}


def as_built(name: str) -> dict:
    """The same fields, read from the preset's Config and from the optimizers and networks it builds."""
    from engine.models import MODELS

    cfg = get_preset(name)
    g_opt, d_opt = make_optimizer(cfg, cfg.g_lr), make_optimizer(cfg, cfg.d_lr)
    kind = type(g_opt).__name__
    assert type(d_opt).__name__ == kind
    if kind == "Adam":
        shape = (g_opt.beta_1, g_opt.beta_2)
        assert (d_opt.beta_1, d_opt.beta_2) == shape
    else:
        shape = g_opt.rho
    family = MODELS[cfg.model]
    nets = (family.build_generator(cfg), family.build_discriminator(cfg))
    rates = {layer.rate for net in nets for layer in net.layers if isinstance(layer, keras.layers.Dropout)}
    return dict(
        optimizer=(kind, float(g_opt.learning_rate.numpy()), float(d_opt.learning_rate.numpy()), shape),
        batch=cfg.batch_size,
        length=(cfg.epochs, cfg.steps, cfg.steps_per_epoch),
        d_updates=cfg.n_critic * (2 if cfg.d_split_real_fake else 1),
        g_latents=cfg.g_batch_factor,
        fresh_g_noise=not cfg.g_reuses_noise,
        d_fakes_inference=cfg.d_fakes_inference,
        latent=(cfg.latent_distribution, cfg.latent_dim),
        dropout=rates,
        targets=(cfg.real_label, cfg.fake_label),
        balance=(cfg.balance_g, cfg.balance_d),
        l2=cfg.l2,
    )


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_seed_preset_is_the_tutorials_recipe(name):
    assert get_preset(name).update_order == "alternating"  # every tutorial trains D, then G against the new D
    built = as_built(name)
    expected = RECIPES[name]
    kind, g_lr, d_lr, shape = built.pop("optimizer")
    want_kind, want_g, want_d, want_shape = expected["optimizer"]
    assert (kind, shape) == (want_kind, want_shape)
    assert (g_lr, d_lr) == (pytest.approx(want_g), pytest.approx(want_d))
    assert built == {k: v for k, v in expected.items() if k != "optimizer"}


def test_presets_are_either_published_or_engine_recipes():
    assert set(PUBLISHED) == set(RECIPES)
    assert not set(PUBLISHED) & set(ENGINE_RECIPES)
    assert set(PUBLISHED) | set(ENGINE_RECIPES) == set(PRESETS)
    for name in PUBLISHED:
        assert PRESETS[name].__doc__.startswith("As published"), name
    for name in ENGINE_RECIPES:
        assert PRESETS[name].__doc__.startswith("Engine recipe"), name


def test_preset_help_separates_the_two_kinds(capsys):
    from engine.train import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"Tutorials as published: {', '.join(PUBLISHED)}" in text
    assert f"Engine recipes: {', '.join(ENGINE_RECIPES)}" in text


def test_an_unknown_optimizer_is_refused_naming_the_valid_ones():
    from engine.errors import UserError

    with pytest.raises(UserError, match="unknown optimizer 'sgd'; valid: adam, rmsprop"):
        make_optimizer(dataclasses.replace(get_preset("dcgan_fashion"), optimizer="sgd"), 1e-3)
