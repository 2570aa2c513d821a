"""One function per experiment, registered by name. Each docstring gives the command and the result to expect."""

from engine.config import PRESETS, Config


@PRESETS.register("dcgan_fashion")
def dcgan_fashion() -> Config:
    """The Fashion-MNIST DCGAN (Géron, Hands-On ML, ch. 17): G 840,705 and D 212,865 parameters.

    Run: `python -m engine.train --strategy mirrored` (this is the default preset). Non-saturating BCE from logits,
    Adam(2e-4, beta1 0.5) for both networks, the simultaneous two-tape step of TF's DCGAN tutorial. Expect
    recognisable garment silhouettes (shirts, trousers, shoes, bags) in the epoch sample grids after 2-3 epochs
    at batch 128; see README for the measured time.
    """
    return Config(preset="dcgan_fashion", model="dcgan_fashion", dataset="fashion_mnist")
