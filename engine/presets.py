"""One function per experiment, registered by name. Each docstring gives the command and the result to expect."""

import dataclasses

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


@PRESETS.register("alphabet")
def alphabet() -> Config:
    """Dense+upsampling GAN on handwritten A-Z letters (the Kaggle "A-Z Handwritten Alphabets" Keras notebook).

    G 6,595,073 and D 1,026,305 parameters. Label smoothing as the article states: D's targets are 0.9 for real and
    0.1 for generated images, G is trained toward 1. Adam(2e-4, beta1 0.5), batch 128, D then G each step (the
    article's train_on_batch order). Data: `--data-dir` holding `A_Z Handwritten Data.csv` (Kaggle; not
    downloadable here), or `--dataset emnist_letters`. Run: `python -m engine.train --preset alphabet --data-dir DIR`.
    """
    return Config(preset="alphabet", model="alphabet", dataset="az_csv", real_label=0.9, fake_label=0.1,
                  update_order="alternating", batch_size=128, epochs=20)


@PRESETS.register("dcgan_mnist")
def dcgan_mnist() -> Config:
    """Conv2DTranspose DCGAN on MNIST (Brownlee, "How to Develop a GAN for Generating MNIST Handwritten Digits").

    G 1,164,289 and D 40,705 parameters; sigmoid output in [0, 1]. Adam(2e-4, beta1 0.5). The tutorial's batch of 256
    is half real, half fake through D: here `batch_size` counts real images, so 128 real + 128 generated per D
    update. Run: `python -m engine.train --preset dcgan_mnist` (needs MNIST: network or `--data-dir`).
    """
    return Config(preset="dcgan_mnist", model="dcgan_mnist", dataset="mnist", output_activation="sigmoid",
                  update_order="alternating", batch_size=128, epochs=20)


@PRESETS.register("acgan_mnist")
def acgan_mnist() -> Config:
    """Auxiliary-classifier GAN on MNIST (Keras-GAN `acgan.py`): G(z, label) and D with validity and class heads.

    G 857,705 and D 120,075 parameters. Loss: BCE on validity plus sparse categorical cross-entropy on the class,
    for real and generated images; Adam(2e-4, beta1 0.5), batch 128. Sample grids show one class per row; exports
    take `z` and `label`. Run: `python -m engine.train --preset acgan_mnist` (needs MNIST), or on the data here:
    `python -m engine.train --preset acgan_mnist --dataset fashion_mnist`.
    """
    return Config(preset="acgan_mnist", model="acgan_mnist", dataset="mnist", num_classes=10,
                  update_order="alternating", batch_size=128, epochs=20)


@PRESETS.register("cdcgan_fashion")
def cdcgan_fashion() -> Config:
    """Class-conditional DCGAN on Fashion-MNIST: dcgan_fashion's networks with the label fed to G and to D.

    Run: `python -m engine.train --preset cdcgan_fashion --strategy mirrored`; grids show one class per row.
    """
    return Config(preset="cdcgan_fashion", model="cdcgan_fashion", dataset="fashion_mnist", num_classes=10)


@PRESETS.register("dcgan_faces")
def dcgan_faces() -> Config:
    """DCGAN on 40x40 RGB faces (FelixMohr, "Deep-learning-with-Python", DCGAN-face-creation, on LFW).

    z(64) ~ U[0, 1), sigmoid output. RMSProp, D lr 1e-4, G lr 2e-4; L2 weight penalty 1e-6 on each network; batch
    64. The balance rule, inside the compiled step: G's update is skipped when g_loss * 1.35 < d_loss, D's when
    d_loss * 1.35 < g_loss. The original TF1 code passed keep_prob 0.6 where a drop rate was expected (and never
    enabled training mode), so its dropout never ran; this preset implements the intent, dropout rate 0.4.
    Data: a folder of face photos, e.g. LFW's `person/*.jpg`:
    `python -m engine.train --preset dcgan_faces --data-dir lfw/`.
    """
    return Config(preset="dcgan_faces", model="dcgan_faces", dataset="image_folder", image_shape=(40, 40, 3),
                  latent_dim=64, latent_distribution="uniform", output_activation="sigmoid", optimizer="rmsprop",
                  d_lr=1e-4, g_lr=2e-4, l2=1e-6, batch_size=64, balance_g=1.35, balance_d=1.35, epochs=20)


@PRESETS.register("balanced_dcgan_mnist")
def balanced_dcgan_mnist() -> Config:
    """The same author's MNIST DCGAN (DCGAN-MNIST) with its loss-balance rule.

    z(64) ~ U[0, 1), sigmoid output, RMSProp lr 1.5e-4 for both networks, batch 64. G's update is skipped when
    g_loss * 1.5 < d_loss, D's when d_loss * 2 < g_loss (decided on the global losses inside the compiled step).
    Run: `python -m engine.train --preset balanced_dcgan_mnist` (needs MNIST).
    """
    return Config(preset="balanced_dcgan_mnist", model="balanced_dcgan_mnist", dataset="mnist", latent_dim=64,
                  latent_distribution="uniform", output_activation="sigmoid", optimizer="rmsprop", d_lr=1.5e-4,
                  g_lr=1.5e-4, batch_size=64, balance_g=1.5, balance_d=2.0, epochs=20)


@PRESETS.register("dcgan_fashion_modern")
def dcgan_fashion_modern() -> Config:
    """The engine's recommended recipe for Fashion-MNIST: dcgan_fashion's networks, data and budget, trained with
    the hinge loss, spectral normalisation on D and an EMA of G.

    Why these three: spectral norm bounds D's Lipschitz constant, so D cannot run away from G and hand it
    vanishing or exploding gradients (Miyato et al. 2018, where hinge + SN at Adam(2e-4, 0.5, 0.999) with one D
    step per G step was a stable setting); the EMA of G's weights averages out the step-to-step oscillation of
    the adversarial game at no training cost (Yazici et al. 2019). Decay 0.995 (a ~200-step window) rather than
    the usual 0.999 so the average forgets the random initial weights within the first epoch of a short run.
    Same networks, optimiser, batch and simultaneous step as dcgan_fashion, so `python -m benchmarks.quality`
    compares recipes, not architectures. Run: `python -m engine.train --preset dcgan_fashion_modern --eval-every 1`.
    Measured against dcgan_fashion: benchmarks/results/quality.md.
    """
    return dataclasses.replace(dcgan_fashion(), preset="dcgan_fashion_modern", loss="hinge", spectral_norm=True,
                               ema_decay=0.995)
