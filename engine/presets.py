"""One function per experiment, registered by name. Each docstring gives the command and the result to expect.

Two kinds, kept apart: the five tutorials' recipes **as published** (`PUBLISHED`: the networks, optimizer, batch,
length and step order of the source, every remaining difference named in the docstring), and the engine's own
recipes (`ENGINE_RECIPES`: the engine's best settings, measured in benchmarks/results/).
"""

import dataclasses

from engine.config import Config
from engine.registry import Registry

PRESETS = Registry("preset")


def get_preset(name: str) -> Config:
    """Returns the Config of preset `name`; an unknown name raises UserError listing the presets."""
    return PRESETS.get_or_fail(name)()


PUBLISHED = ("dcgan_fashion", "alphabet", "dcgan_mnist", "acgan_mnist", "dcgan_faces", "balanced_dcgan_mnist")
STEPS_FAST = 5000  # the default's length: the whole command in under 6 minutes on 2 CPU cores (measured below)
ENGINE_RECIPES = (
    "dcgan_fashion_fast",
    "dcgan_fashion_long",
    "dcgan_fashion_adam",
    "cdcgan_fashion",
    "cdcgan_fashion_long",
    "cdcgan_fashion_aux",
    "dcgan_fashion_modern",
)


@PRESETS.register("dcgan_fashion")
def dcgan_fashion() -> Config:
    """As published: the Fashion-MNIST DCGAN ("DCGAN with Keras" on Fashion-MNIST: Géron's Hands-On ML ch. 17 code
    with SELU in G and Dropout 0.3 in D). G 840,705 and D 212,865 parameters.

    The source compiles D and the stacked G->D model with `optimizer="rmsprop"`, i.e. Keras's default
    RMSprop(lr 1e-3, rho 0.9, epsilon 1e-7); batch 32; 10 epochs. Each step: fresh z ~ N(0, 1) (100 wide) ->
    `generator(noise)` (G's BatchNorm in inference mode: `d_fakes_inference`) -> one D update on concat(fake, real)
    with targets 0 and 1 (BCE, the mean over both halves) -> the stacked model on new noise toward 1. Images x2-1.
    Run: `python -m engine.train --preset dcgan_fashion` (1,875 steps per epoch, 18,750 in all). Measured on a
    2-core AMD EPYC (benchmarks/results/quality.md, shipped evaluator, 5,000 samples): 19.4 minutes of training,
    FID 443 after 1 minute, 269 after 5, 251 after 10, 249.7 at the end; precision 0.81, recall 0.81.

    Differences, each equivalent or named: the source shuffles with a 1000-image buffer, the engine with a full
    permutation per epoch (a stronger shuffle of the same data); D ends in a sigmoid under Keras's BCE (clipped at
    1e-7), the engine takes BCE from logits (the same loss, without the clipping); the source's G update runs D in
    training mode with D's weights frozen, as the engine's G update does (D has no BatchNorm, so nothing else
    differs).
    """
    return Config(
        preset="dcgan_fashion",
        model="dcgan_fashion",
        dataset="fashion_mnist",
        optimizer="rmsprop",
        g_lr=1e-3,
        d_lr=1e-3,
        batch_size=32,
        epochs=10,
        update_order="alternating",
        d_fakes_inference=True,
    )


@PRESETS.register("alphabet")
def alphabet() -> Config:
    """As published: the dense+upsampling GAN on handwritten A-Z letters (the Kaggle "A-Z Handwritten Alphabets"
    Keras notebook). G 6,595,073 and D 1,026,305 parameters.

    Label smoothing as the article states: D's targets are 0.9 for real and 0.1 for generated images, G is trained
    toward 1. Adam(2e-4, beta1 0.5), batch 128, 80 epochs (the article's; steps per epoch follow from the data), D
    then G each step (the article's train_on_batch order). Data: `--data-dir` holding `A_Z Handwritten Data.csv`
    (Kaggle; not downloadable here), or `--dataset emnist_letters`.
    Run: `python -m engine.train --preset alphabet --data-dir DIR`.

    Not checked against a copy of the notebook (none could be fetched here): how it draws D's fakes (`predict`
    would put G's BatchNorm in inference mode; the engine keeps it in training mode) is unverified.
    """
    return Config(
        preset="alphabet",
        model="alphabet",
        dataset="az_csv",
        real_label=0.9,
        fake_label=0.1,
        update_order="alternating",
        batch_size=128,
        epochs=80,
    )


@PRESETS.register("dcgan_mnist")
def dcgan_mnist() -> Config:
    """As published: the Conv2DTranspose DCGAN on MNIST (Brownlee, "How to Develop a GAN for Generating MNIST
    Handwritten Digits"). G 1,164,289 and D 40,705 parameters; sigmoid output in [0, 1].

    Adam(2e-4, beta1 0.5) for both. Each step: D is trained on 128 real + 128 generated images (`predict`, so
    `d_fakes_inference`; G has no BatchNorm, so it changes nothing), then G through the frozen D on `n_batch` = 256
    fresh latents (`g_batch_factor` 2). 5 epochs of `int(60000 / 256)` = 234 steps (`steps_per_epoch`).
    Run: `python -m engine.train --preset dcgan_mnist` (needs MNIST: network or `--data-dir`).

    Difference: the source draws real images with replacement (`randint`) each step; the engine walks a permutation
    per pass over the data (the same distribution of batches, without repeats within a pass).
    """
    return Config(
        preset="dcgan_mnist",
        model="dcgan_mnist",
        dataset="mnist",
        output_activation="sigmoid",
        update_order="alternating",
        batch_size=128,
        epochs=5,
        steps_per_epoch=234,
        g_batch_factor=2,
        d_fakes_inference=True,
    )


@PRESETS.register("acgan_mnist")
def acgan_mnist() -> Config:
    """As published: the auxiliary-classifier GAN on MNIST (Keras-GAN `acgan.py`): G(z, label) and D with
    validity and class heads. G 857,705 and D 120,075 parameters.

    `acgan.train(epochs=14000, batch_size=32)`: 14,000 steps of batch 32 (its "epochs" are steps). Each step: z
    and labels drawn, fakes by `generator.predict` (G's BatchNorm in inference mode: `d_fakes_inference`), then two
    D updates, `train_on_batch` on the real batch with its labels and then on the fakes with the sampled labels
    (`d_split_real_fake`), then one G update through the frozen D that reuses the step's noise and labels
    (`g_reuses_noise`). Loss: BCE on validity plus sparse categorical cross-entropy on the class. Exports take `z`
    and `label`. Run: `python -m engine.train --preset acgan_mnist` (needs MNIST), or on the data here:
    `python -m engine.train --preset acgan_mnist --dataset fashion_mnist`.

    Differences: the source shares one Adam(2e-4, 0.5) between D and the stacked model; the engine gives each
    network its own Adam with the same settings (their slots never overlap, so only the shared step count for bias
    correction differs: D's optimizer counts 2 updates per step). Real images are drawn with replacement in the
    source, by permutation here. The frozen D in G's update ran BatchNorm on batch statistics in the Keras of the
    time (standalone Keras 2.1); the engine does the same (training mode), where tf.keras 2 would use moving ones.
    """
    return Config(
        preset="acgan_mnist",
        model="acgan_mnist",
        dataset="mnist",
        num_classes=10,
        update_order="alternating",
        batch_size=32,
        epochs=0,
        steps=14000,
        d_split_real_fake=True,
        d_fakes_inference=True,
        g_reuses_noise=True,
    )


_MOHR = """Both Mohr notebooks: 60,000 steps of batch 64; z ~ U[0, 1), 64 wide (the notebooks' `n_noise = 64`; the
    article's text says 100, but 64 is what trained the published images, and it sets the parameter counts);
    sigmoid output. Each step (sequential): the losses `loss_d = mean(0.5 * (bce_real + bce_fake))` and
    `loss_g = mean(bce(1, D(G(z))))` on one batch and one latent draw decide the balance rule, then D's update,
    then G's against the updated D on the same latents (`g_reuses_noise`). L2: `l2_regularizer(1e-6)` is
    1e-6 * sum(w^2) / 2, so `l2` = 5e-7 (on kernels; the source also penalised biases and BN offsets). Dropout 0:
    the source passed keep_prob 0.6 as `tf.layers.dropout`'s rate and never set its `training` flag, so its
    dropout never ran (`--set dropout=0.4` trains with the intended rate). Differences: TF1's RMSProp (epsilon
    1e-10, accumulator started at 1) vs Keras's (epsilon 1e-7, started at 0); the source's BCE on sigmoid outputs
    with eps 1e-12 vs BCE from logits; TF1's contrib batch_norm had no gamma, Keras's has."""


@PRESETS.register("dcgan_faces")
def dcgan_faces() -> Config:
    """As published: the DCGAN on 40x40 RGB faces (FelixMohr, "Deep-learning-with-Python",
    DCGAN-face-creation.ipynb, on LFW). G 1,053,555 and D 4,320,705 parameters.

    RMSProp, D lr 1e-4, G lr 2e-4. The balance rule: G's update is skipped when g_loss * 1.35 < d_loss, D's when
    d_loss * 1.35 < g_loss, on the losses before the step's updates.
    {mohr}
    Data: a folder of face photos, e.g. LFW's `person/*.jpg`:
    `python -m engine.train --preset dcgan_faces --data-dir lfw/`.
    """
    return Config(
        preset="dcgan_faces",
        model="dcgan_faces",
        dataset="image_folder",
        image_shape=(40, 40, 3),
        latent_dim=64,
        latent_distribution="uniform",
        output_activation="sigmoid",
        optimizer="rmsprop",
        d_lr=1e-4,
        g_lr=2e-4,
        l2=5e-7,
        batch_size=64,
        balance_g=1.35,
        balance_d=1.35,
        epochs=0,
        steps=60000,
        update_order="alternating",
        g_reuses_noise=True,
        dropout=0.0,
    )


@PRESETS.register("balanced_dcgan_mnist")
def balanced_dcgan_mnist() -> Config:
    """As published: the same author's MNIST DCGAN (DCGAN-MNIST.ipynb) with its loss-balance rule.
    G 210,065 and D 1,812,481 parameters.

    RMSProp lr 1.5e-4 for both networks. G's update is skipped when g_loss * 1.5 < d_loss, D's when
    d_loss * 2 < g_loss, on the losses before the step's updates.
    {mohr}
    Run: `python -m engine.train --preset balanced_dcgan_mnist` (needs MNIST).
    """
    return Config(
        preset="balanced_dcgan_mnist",
        model="balanced_dcgan_mnist",
        dataset="mnist",
        latent_dim=64,
        latent_distribution="uniform",
        output_activation="sigmoid",
        optimizer="rmsprop",
        d_lr=1.5e-4,
        g_lr=1.5e-4,
        l2=5e-7,
        batch_size=64,
        balance_g=1.5,
        balance_d=2.0,
        epochs=0,
        steps=60000,
        update_order="alternating",
        g_reuses_noise=True,
        dropout=0.0,
    )


dcgan_faces.__doc__ = dcgan_faces.__doc__.replace("{mohr}", _MOHR)
balanced_dcgan_mnist.__doc__ = balanced_dcgan_mnist.__doc__.replace("{mohr}", _MOHR)


@PRESETS.register("dcgan_fashion_fast")
def dcgan_fashion_fast() -> Config:
    """Engine recipe, the default: the tutorial's networks and optimizer (dcgan_fashion: RMSprop 1e-3, batch 32)
    with the simultaneous step and an EMA of G, cut to a few CPU minutes.

    Two changes from the published recipe, each measured in the recipe search (benchmarks/results/recipe_search.md,
    5 minutes each on 2 CPU cores): the simultaneous step (one forward pass of G feeds both losses, and D sees G's
    fakes with batch statistics, as G's own update does, instead of the tutorial's `generator(noise)` in inference
    mode) trains more steps per minute and better per step (FID 247 vs 294 for the published order with the same
    EMA); and an EMA of G's weights (0.999, warm-up min(0.999, (1 + t) / (10 + t))), which is what gets sampled and
    exported. 5,000 steps (2.7 epochs).
    Run: `python -m engine.train --strategy mirrored` (the default preset). What to expect, measured on a 2-core AMD
    EPYC (docs/quality.md, shipped evaluator, 5,000 samples): the whole command in 5 min 38 s (4.4 minutes of
    training), FID 241.7 (245.0 in the quality benchmark's own run), precision 0.81, recall 0.81, class entropy 0.98;
    with the engine's Dropout in D, on the machine idle: 3 min 33 s (2 min 57 s of training), FID 244.1, recall 0.75;
    dcgan_fashion as published reaches 249.7 after its 10 epochs (19 minutes).
    """
    return Config(
        preset="dcgan_fashion_fast",
        model="dcgan_fashion",
        dataset="fashion_mnist",
        optimizer="rmsprop",
        g_lr=1e-3,
        d_lr=1e-3,
        batch_size=32,
        epochs=0,
        steps=STEPS_FAST,
        ema_decay=0.999,
        ema_warmup=True,
    )


@PRESETS.register("dcgan_fashion_long")
def dcgan_fashion_long() -> Config:
    """Engine recipe, the best unconditional one for half an hour: the default's recipe (dcgan_fashion_fast) trained
    30,000 steps (16 epochs), about 30 minutes on 2 CPU cores (the conditional cdcgan_fashion_long does far better).

    Run: `python -m engine.train --preset dcgan_fashion_long --strategy mirrored`. What to expect, measured on a
    2-core AMD EPYC (docs/quality.md, shipped evaluator, 5,000 samples): 30,000 steps in 26.2 minutes of training,
    FID 241.2 after 5 minutes, 213.8 after 10, 209.9 at the end; precision 0.81, recall 0.84, class entropy 0.977.
    dcgan_fashion as published: 249.7 after its 19 minutes.
    """
    return dataclasses.replace(dcgan_fashion_fast(), preset="dcgan_fashion_long", steps=30000)


@PRESETS.register("dcgan_fashion_adam")
def dcgan_fashion_adam() -> Config:
    """Engine recipe: dcgan_fashion's networks with the DCGAN paper's optimizer, Adam(2e-4, beta1 0.5), batch 64,
    the simultaneous two-tape step (one forward pass feeds both losses), an EMA of G (0.999, warm-up); 3 epochs.

    The base of the recipe search (benchmarks/recipe_search.py): each trial changes one lever of it. Slower per CPU
    minute than the tutorial's RMSprop(1e-3) at batch 32 (FID 463 vs 269 after 5 minutes there).
    Run: `python -m engine.train --preset dcgan_fashion_adam --strategy mirrored`.
    """
    return Config(
        preset="dcgan_fashion_adam",
        model="dcgan_fashion",
        dataset="fashion_mnist",
        batch_size=64,
        epochs=3,
        ema_decay=0.999,
        ema_warmup=True,
    )


@PRESETS.register("cdcgan_fashion")
def cdcgan_fashion() -> Config:
    """Engine recipe: a class-conditional DCGAN on Fashion-MNIST, dcgan_fashion's networks with the label fed to
    G and to D, trained with the default's recipe (dcgan_fashion_fast: RMSprop 1e-3, batch 32, the simultaneous
    step, an EMA of G), 10,000 steps.

    Run: `python -m engine.train --preset cdcgan_fashion --strategy mirrored`; grids show one class per row.
    What to expect, measured on a 2-core AMD EPYC (docs/quality.md, `engine.evaluate`, 5,000 samples over the ten
    classes): FID 48.4, precision 0.90, recall 0.79, class entropy 0.996, class accuracy 0.897 (real images: 0.926),
    intra-class FID 68.2; 5,000 steps (4.95 minutes of training) gave FID 64.9, so 10,000 take about 10 minutes.
    """
    return dataclasses.replace(
        dcgan_fashion_fast(), preset="cdcgan_fashion", model="cdcgan_fashion", num_classes=10, steps=10000
    )


@PRESETS.register("cdcgan_fashion_long")
def cdcgan_fashion_long() -> Config:
    """Engine recipe, the recommended one for half an hour: cdcgan_fashion trained for 33,000 steps (what 30
    minutes of training gave on a 2-core AMD EPYC).

    Run: `python -m engine.train --preset cdcgan_fashion_long --strategy mirrored` (add `--time-limit 30` to stop
    at 30 minutes on a slower machine). What to expect, measured here (benchmarks/results/quality.md, shipped
    evaluator, 5,000 samples over the ten classes): FID 61.7 after 5 minutes, 46.1 after 10, 43.2 after 20 and
    43.5 after 30 (33,020 steps); at 30 minutes precision 0.91, recall 0.82, class entropy 0.996, class accuracy
    0.90, intra-class FID 62.7. The published recipe ends at FID 249.7 (precision 0.81, recall 0.81).
    """
    return dataclasses.replace(cdcgan_fashion(), preset="cdcgan_fashion_long", steps=33000)


@PRESETS.register("cdcgan_fashion_aux")
def cdcgan_fashion_aux() -> Config:
    """Engine recipe, the conditional one for recognisable classes: cdcgan_fashion with an auxiliary classifier in
    D (engine/models/cdcgan_fashion_aux.py) that learns the classes of real images, and G also trained to make its
    images named as the class asked for (class_weight 1.0). The class head learns real images only, and the
    label-fed critic stays, so each class keeps its variety (an auxiliary-classifier GAN alone collapsed to one
    image per class here, docs/quality.md). 10,000 steps, about 10 minutes on 2 CPU cores.
    Run: `python -m engine.train --preset cdcgan_fashion_aux --strategy mirrored`. What to expect, measured on a
    2-core AMD EPYC (benchmarks/results/quality.md, shipped evaluator, 5,000 samples over the ten classes): FID 73.3
    after 2 minutes, 46.2 after 5 and 39.5 at the end (10.0 minutes); class accuracy 0.987 (real images: 0.926),
    intra-class FID 66.1, precision 0.90, recall 0.71, class entropy 1.000. cdcgan_fashion after the same 10
    minutes: FID 46.1, class accuracy 0.90, recall 0.80: sharper classes for less variety within each.
    """
    return dataclasses.replace(cdcgan_fashion(), preset="cdcgan_fashion_aux", model="cdcgan_fashion_aux")


@PRESETS.register("dcgan_fashion_modern")
def dcgan_fashion_modern() -> Config:
    """Engine recipe (the earlier "recommended" one): dcgan_fashion's networks with the hinge loss, spectral
    normalisation on D and an EMA of G (0.995), Adam(2e-4, 0.5), batch 128, the simultaneous step.

    Spectral norm bounds D's Lipschitz constant (Miyato et al. 2018, hinge + SN at Adam(2e-4, 0.5, 0.999)); the
    EMA of G's weights averages out the step-to-step oscillation of the game (Yazici et al. 2019). It lost to the
    tutorial recipe per epoch in the earlier benchmark (benchmarks/results/quality.md).
    Run: `python -m engine.train --preset dcgan_fashion_modern --eval-every 1`.
    """
    return Config(
        preset="dcgan_fashion_modern",
        model="dcgan_fashion",
        dataset="fashion_mnist",
        loss="hinge",
        spectral_norm=True,
        ema_decay=0.995,
    )
