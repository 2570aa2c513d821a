"""Configs, presets and overrides: types are checked and unknown names list the valid ones."""

import pytest

from engine.config import Config, RunOptions, apply_overrides, from_dict, to_dict
from engine.errors import UserError
from engine.presets import get_preset


def test_default_preset_is_the_fashion_dcgan():
    cfg = get_preset("dcgan_fashion")
    assert (cfg.model, cfg.dataset, cfg.image_shape, cfg.latent_dim) == (
        "dcgan_fashion",
        "fashion_mnist",
        (28, 28, 1),
        100,
    )
    assert cfg.output_range == (-1.0, 1.0)


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(UserError, match="unknown preset 'nope'; valid: .*dcgan_fashion"):
        get_preset("nope")


def test_overrides_are_parsed_to_the_field_type():
    cfg = apply_overrides(
        get_preset("dcgan_fashion"), ["batch_size=64", "g_lr=1e-4", "update_order=alternating", "image_shape=28,28,1"]
    )
    assert cfg.batch_size == 64 and isinstance(cfg.batch_size, int)
    assert cfg.g_lr == pytest.approx(1e-4)
    assert cfg.update_order == "alternating"
    assert cfg.image_shape == (28, 28, 1)


@pytest.mark.parametrize(
    "pair, message",
    [
        ("nokey=1", "unknown config key 'nokey'; valid keys: .*batch_size"),
        ("batch_size=abc", "override batch_size='abc': expected int"),
        ("batch_size", "is not key=value"),
        ("batch_size=0", r"batch_size=0 \(must be > 0\)"),
        ("update_order=sideways", "update_order='sideways' .*valid: simultaneous, alternating"),
        ("preset=x", "unknown config key 'preset'"),
    ],
)
def test_bad_overrides_fail_with_one_clear_line(pair, message):
    with pytest.raises(UserError, match=message):
        apply_overrides(get_preset("dcgan_fashion"), [pair])


def test_config_round_trips_through_json_dict():
    cfg = apply_overrides(get_preset("dcgan_fashion"), ["batch_size=64"])
    import json

    assert from_dict(Config, json.loads(json.dumps(to_dict(cfg)))) == cfg


def test_run_options_validate():
    with pytest.raises(UserError, match="unknown strategy 'tpu'"):
        RunOptions(strategy="tpu")
    with pytest.raises(UserError, match="steps_per_loop=0"):
        RunOptions(steps_per_loop=0)
