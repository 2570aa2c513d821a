"""Optimizers by name: each builds a Keras optimizer for one network from the config and its learning rate."""

import keras

from engine.config import Config
from engine.registry import Registry
from engine.step.precision import needs_loss_scaling

OPTIMIZERS = Registry("optimizer")


@OPTIMIZERS.register("adam")
def adam(cfg: Config, lr: float) -> keras.optimizers.Optimizer:
    return keras.optimizers.Adam(lr, beta_1=cfg.beta1, beta_2=cfg.beta2)


@OPTIMIZERS.register("rmsprop")
def rmsprop(cfg: Config, lr: float) -> keras.optimizers.Optimizer:
    return keras.optimizers.RMSprop(lr)  # Keras's defaults (rho 0.9, epsilon 1e-7), as `optimizer="rmsprop"`


def make_optimizer(cfg: Config, lr: float) -> keras.optimizers.Optimizer:
    """The configured optimizer; under mixed_float16 wrapped in a dynamic LossScaleOptimizer, which unscales the
    gradients and skips a step whose gradients overflowed (the phases scale the loss with `scale_loss`)."""
    optimizer = OPTIMIZERS.get_or_fail(cfg.optimizer)(cfg, lr)
    if needs_loss_scaling(cfg.precision):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
