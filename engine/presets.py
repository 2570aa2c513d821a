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
    "folder",
    "dcgan_any_fashion",
)


@PRESETS.register("dcgan_fashion")
def dcgan_fashion() -> Config:
    """As published: the Fashion-MNIST DCGAN of "Deep Convolutional GAN with Keras" (seed text 003): G Dense ->
    BatchNorm -> Conv2DTranspose(64, SELU) -> BatchNorm -> Conv2DTranspose(1, tanh), D two strided Conv2D with
    LeakyReLU 0.2 and Dropout 0.3; G 840,705 and D 212,865 parameters, as the text's summaries print.

    The text compiles D and the stacked G->D model with `optimizer ="adam"`, i.e. Keras's default Adam(lr 1e-3, beta1
    0.9, beta2 0.999, epsilon 1e-7), set here in full (the config's own beta1 default is 0.5). Géron's Hands-On ML ch.
    17 code, with the same networks, compiles with `optimizer="rmsprop"` instead: `--set optimizer=rmsprop` trains that
    (RMSprop(1e-3), what this preset used before). Batch 32; 10 epochs. Each step: fresh z ~ N(0, 1) (100 wide) ->
    `generator(noise)` (G's BatchNorm in inference mode: `d_fakes_inference`) -> one D update on concat(fake, real) with
    targets 0 and 1 (BCE, the mean over both halves) -> the stacked model on new noise toward 1. Images x2-1.
    Run: `python -m engine.train --preset dcgan_fashion` (1,875 steps per epoch, 18,750 in all). What to expect,
    measured on a 2-core AMD EPYC (benchmarks/results/quality.md, shipped evaluator, 5,000 samples): FID 484.2 at
    step 2,950, 407.8 at 4,720, 307.6 at 10,840 and 254.0 at the end; precision 0.81, recall 0.78. Its 55.6 minutes
    of training there are inflated (other jobs shared the machine); with RMSprop(1e-3) the recipe ended at 249.7
    after 19.4 minutes on the machine idle.

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
        optimizer="adam",  # `optimizer ="adam"`: Keras's defaults, not the config's beta1 0.5
        g_lr=1e-3,
        d_lr=1e-3,
        beta1=0.9,
        beta2=0.999,
        batch_size=32,
        epochs=10,
        update_order="alternating",
        d_fakes_inference=True,
    )


@PRESETS.register("alphabet")
def alphabet() -> Config:
    """As published: the dense+upsampling GAN on handwritten A-Z letters ("Alphabet GAN", seed text 000, whose full
    code is the author's notebook `english-alphabet-gan.ipynb`). G 6,595,073 and D 1,026,305 parameters, as the
    text's summaries print.

    From the text: Adam at lr 2e-4 (beta1 is not in the text: 0.5, the notebook's `Adam(0.0002, 0.5)`); batch 128,
    80 epochs of 2909 steps, the text's own ⌊372,450 / 128⌋ (the notebook runs `epochs = 101`); z ~ N(0, 1), 100
    wide; D's targets 0.9 for real and 0.1 for generated images ("the code says 0.1 and 0.9": the text wins over
    the notebook, whose fakes get 0), G trained toward 1; one D `train_on_batch` on real and fakes together, then
    G's. Not in the text, from the notebook: D's fakes are `generator.predict(input_gen)` (G's BatchNorm in
    inference mode: `d_fakes_inference`), and G's update reuses that `input_gen` (`g_reuses_noise`).
    Data: `--data-dir` holding `A_Z Handwritten Data.csv` (Kaggle; not downloadable here), or
    `--dataset emnist_letters`. The loader holds out 10% of the csv's rows for evaluation; `steps_per_epoch` keeps
    the text's 2909 steps an epoch all the same (the notebook draws each real batch with replacement, so an epoch
    there is a count of steps, not a pass over the rows).
    Run: `python -m engine.train --preset alphabet --data-dir DIR`.

    Differences: real batches are drawn by permutation here, with replacement in the notebook, from the 90% train
    split (335,205 of 372,450 rows) instead of all rows.
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
        steps_per_epoch=2909,  # the text's ⌊372,450 / 128⌋, whatever the train split holds
        d_fakes_inference=True,
        g_reuses_noise=True,
    )


@PRESETS.register("dcgan_mnist")
def dcgan_mnist() -> Config:
    """As published: the Conv2DTranspose DCGAN on MNIST ("Stepping into the magical world of GANs", seed text 001,
    coded after Brownlee's "How to Develop a GAN for Generating MNIST Handwritten Digits"). G 1,164,289 and D 40,705
    parameters; sigmoid output in [0, 1].

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
    """As published: the auxiliary-classifier GAN on MNIST in TensorFlow 2 / tf.keras (seed text 002, the code of
    Keras-GAN's `acgan.py`): G(z, label) and D with validity and class heads. G 857,705 and D 120,075 parameters.

    Batch 128: the text's `def train(epochs, batch_size=128, ...)`; its prose says each iteration's batch is 100,
    which its own code contradicts. How many iterations the text never says (it never calls `train`): 14,000 comes
    from Keras-GAN's `acgan.train(epochs=14000, batch_size=32, ...)`, whose "epochs" are steps (its batch 32 gives
    way to the text's 128). Each step: z ~ N(0, 1) and labels drawn, fakes by `generator.predict` (G's BatchNorm in
    inference mode: `d_fakes_inference`), then two D updates, `train_on_batch` on the real batch with its labels
    and then on the fakes with the sampled labels (`d_split_real_fake`), then one G update through the combined
    model that reuses the step's noise and labels (`g_reuses_noise`). The combined model holds D with
    `discriminator.trainable = False`, which under tf.keras 2 runs D's BatchNorm on its moving statistics and
    leaves them unchanged while its Dropout still drops: `d_frozen_bn_in_g_step`. Loss: BCE on validity plus sparse
    categorical cross-entropy on the class. Exports take `z` and `label`. Run: `python -m engine.train --preset
    acgan_mnist` (needs MNIST), or on the data here: `python -m engine.train --preset acgan_mnist --dataset
    fashion_mnist`.

    Differences: the source shares one Adam(2e-4, 0.5) between D and the combined model; the engine gives each
    network its own Adam with the same settings (their slots never overlap, so only the shared step count for bias
    correction differs: D's optimizer counts 2 updates per step). Real images are drawn with replacement in the
    source, by permutation here.
    """
    return Config(
        preset="acgan_mnist",
        model="acgan_mnist",
        dataset="mnist",
        num_classes=10,
        update_order="alternating",
        batch_size=128,
        epochs=0,
        steps=14000,
        d_split_real_fake=True,
        d_fakes_inference=True,
        g_reuses_noise=True,
        d_frozen_bn_in_g_step=True,
    )


_MOHR = """From the text (seed text 004): batch 64; the generator's input is 100 numbers (the notebooks'
    `n_noise = 64` is the alternative: `--set latent_dim=64`); Dropout layers "for more stable learning", run in D
    at the notebooks' rate 1 - `keep_prob` = 1 - 0.6 = 0.4 (the notebooks passed `keep_prob` where
    `tf.layers.dropout` takes the drop rate and never set its `training` flag, so there no dropout ever ran:
    `--set dropout=0` trains that); BatchNorm in G; two optimizers; some L2 regularisation; D's targets 1 for real
    and 0 for generated images; the two losses balanced so that neither network gets too strong. The notebooks
    also put dropout in G, before each BatchNorm; G has none here, since its samples are drawn in inference mode
    (BatchNorm on moving statistics, no dropout), as the notebooks draw theirs, and statistics gathered with dropout
    running leave those samples about a third of their variety (the flat, black grids of an earlier version; the
    text does not say where its dropout layers are; tests/engine/test_published.py). Not in the text,
    from the linked notebooks: the optimizer and learning rates, the balance thresholds, 60,000 steps, z ~ U[0, 1),
    the sigmoid output and the step order: the losses `loss_d = mean(0.5 * (bce_real + bce_fake))` and
    `loss_g = mean(bce(1, D(G(z))))` on one batch and one latent draw decide the balance rule, then D's update,
    then G's against the updated D on the same latents (`g_reuses_noise`). L2: `l2_regularizer(1e-6)` is 1e-6 * sum(w^2)
    / 2, so `l2` = 5e-7 (on kernels; the source also penalised biases and BN offsets). Differences: TF1's RMSProp
    (epsilon 1e-10, accumulator started at 1) vs Keras's (epsilon 1e-7, started at 0); the source's BCE on sigmoid
    outputs with eps 1e-12 vs BCE from logits; TF1's contrib batch_norm had no gamma, Keras's has."""


@PRESETS.register("dcgan_faces")
def dcgan_faces() -> Config:
    """As published: the DCGAN on 40x40 RGB faces of LFW (seed text 004, "Implementing a GAN (DCGAN) to draw human
    faces", F. Mohr; code: DCGAN-face-creation.ipynb). G 1,055,283 and D 4,320,705 parameters.

    RMSProp, D lr 1e-4, G lr 2e-4. The balance rule: G's update is skipped when g_loss * 1.35 < d_loss, D's when
    d_loss * 1.35 < g_loss, on the losses before the step's updates.
    {mohr}
    Data: the text's data set, all of LFW scaled to 40 x 40 (the notebook draws each batch from every file), so
    the preset trains on every image of the folder (`train_split` "all"), none held out:
    `python -m engine.train --preset dcgan_faces --data-dir lfw/`.
    """
    return Config(
        preset="dcgan_faces",
        model="dcgan_faces",
        dataset="image_folder",
        image_shape=(40, 40, 3),
        latent_dim=100,
        latent_distribution="uniform",
        train_split="all",  # all of LFW
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
        dropout=0.4,  # 1 - keep_prob (0.6)
    )


@PRESETS.register("balanced_dcgan_mnist")
def balanced_dcgan_mnist() -> Config:
    """As published: the same text's MNIST DCGAN (seed text 004; code: DCGAN-MNIST.ipynb) with its loss-balance
    rule. G 210,641 and D 1,812,481 parameters.

    RMSProp lr 1.5e-4 for both networks. G's update is skipped when g_loss * 1.5 < d_loss, D's when
    d_loss * 2 < g_loss, on the losses before the step's updates.
    {mohr}
    Run: `python -m engine.train --preset balanced_dcgan_mnist` (needs MNIST).
    """
    return Config(
        preset="balanced_dcgan_mnist",
        model="balanced_dcgan_mnist",
        dataset="mnist",
        latent_dim=100,
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
        dropout=0.4,  # 1 - keep_prob (0.6)
    )


dcgan_faces.__doc__ = dcgan_faces.__doc__.replace("{mohr}", _MOHR)
balanced_dcgan_mnist.__doc__ = balanced_dcgan_mnist.__doc__.replace("{mohr}", _MOHR)


@PRESETS.register("dcgan_fashion_fast")
def dcgan_fashion_fast() -> Config:
    """Engine recipe, the default: the tutorial's networks (dcgan_fashion, batch 32) with the engine's optimizer,
    RMSprop(1e-3), the simultaneous step and an EMA of G, cut to a few CPU minutes.

    Three changes from the published recipe, each measured: RMSprop(1e-3) (Keras's defaults otherwise) in place of the
    text's Adam(1e-3, beta1 0.9), which in this recipe ends the 5,000 steps at FID 404.3 (recall 0.33, one class 171x as
    frequent as the least) against RMSprop's 242.0 (recall 0.81; benchmarks/results/quality_optimizer.md) and in the
    published recipe trails RMSprop per step too (407.8 at step 4,720 against 268.8 at step 5,070, 254.0 against 249.7
    at the end; docs/quality.md, "Quality benchmark"). The simultaneous step (one forward pass of G feeds both losses,
    and D sees G's fakes with batch statistics, as G's own update does, instead of the tutorial's `generator(noise)` in
    inference mode) trains more steps per minute and better per step (FID 247 vs 294 for the alternating order with the
    same optimizer and EMA, benchmarks/results/recipe_search.md, 5 minutes each on 2 CPU cores); and an EMA of G's
    weights (0.999, warm-up min(0.999, (1 + t) / (10 + t))), which is what gets sampled and exported. 5,000 steps (2.7
    epochs).
    Run: `python -m engine.train --strategy mirrored` (the default preset). What to expect, measured on a 2-core AMD
    EPYC (docs/quality.md, shipped evaluator, 5,000 samples): the whole command in 5 min 38 s (4.4 minutes of
    training), FID 241.7 (245.0 in the quality benchmark's own run), precision 0.81, recall 0.81, class entropy 0.98;
    with the engine's Dropout in D, on the machine idle: 3 min 33 s (2 min 57 s of training), FID 244.1, recall 0.75;
    dcgan_fashion as published reaches 254.0 after its 10 epochs (18,750 steps).
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
    dcgan_fashion as published: 254.0 after its 18,750 steps.
    """
    return dataclasses.replace(dcgan_fashion_fast(), preset="dcgan_fashion_long", steps=30000)


@PRESETS.register("dcgan_fashion_adam")
def dcgan_fashion_adam() -> Config:
    """Engine recipe: dcgan_fashion's networks with the DCGAN paper's optimizer, Adam(2e-4, beta1 0.5), batch 64,
    the simultaneous two-tape step (one forward pass feeds both losses), an EMA of G (0.999, warm-up); 3 epochs.

    The base of the recipe search (benchmarks/recipe_search.py): each trial changes one lever of it. Slower per CPU
    minute than RMSprop(1e-3) at batch 32 (FID 463 after 5 minutes, where the published recipe with RMSprop(1e-3),
    as that preset stood on 2026-12-02, was at 269).
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
    0.90, intra-class FID 62.7. The published recipe ends at FID 254.0 (precision 0.81, recall 0.78).
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


@PRESETS.register("folder")
def folder() -> Config:
    """Engine recipe, the default for a folder of images (`python -m engine.train --data-dir DIR`): the any-size
    dcgan_any family at the shape picked from the images (engine.folder), class-conditional (cdcgan_any) when the
    folder has class sub-folders, trained on every image (`train_split` "all") with the small-data levers on.

    DiffAugment (translation, cutout, colour) of every image D sees, its probability moved by ADA toward D's mean
    sign on real images of 0.6, starting at 0; lazy R1 (gamma 0.2, every 16 steps); RMSprop(1e-3) for both networks,
    batch 32, the simultaneous step, an EMA of G (0.999, warm-up); 20,000 steps (`--time-limit MIN` stops sooner).
    Run: `python -m engine.train --data-dir DIR [--image-size N]`. What to expect, measured on a 2-core AMD EPYC
    shared with other jobs (docs/folders.md): 3,786 emoji at 32x32 RGB, pixel-feature FID 113.8 after 2 minutes,
    27.3 after 10 and 20.6 after 30 (4,966 steps; the floor is 2.6): people and smileys recognisable, flags and
    hearts not yet. Other sizes were not measured.
    """
    return Config(
        preset="folder",
        model="dcgan_any",
        dataset="image_folder",
        image_shape=(32, 32, 3),
        train_split="all",
        optimizer="rmsprop",
        g_lr=1e-3,
        d_lr=1e-3,
        batch_size=32,
        epochs=0,
        steps=20000,
        ema_decay=0.999,
        ema_warmup=True,
        augment="translation,cutout,color",
        augment_p=0.0,
        ada_target=0.6,
        r1_weight=0.2,
        r1_every=16,
        checkpoint_every=2000,
    )


@PRESETS.register("dcgan_any_fashion")
def dcgan_any_fashion() -> Config:
    """Engine recipe, the any-size family's best unconditional one on Fashion-MNIST found so far: dcgan_any at
    28x28x1 (7x7 base, two up-blocks; G 816,801 and D 138,561 parameters at width 1), hinge loss, RMSprop(1e-3) for
    both, batch 32, the simultaneous step, an EMA of G (0.999, warm-up), 5,000 steps. No augmentation or R1: 60,000
    images are not memorised in 5,000 steps.

    Run: `python -m engine.train --preset dcgan_any_fashion`. Measured at 5,000 steps (`python -m engine.evaluate`,
    shipped evaluator, 5,000 samples; the same recipe with one change each): hinge FID 139.2 (precision 0.77, recall
    0.82); BCE 176.9; BCE with Adam(2e-4, 0.5) 233.3; dcgan_fashion_fast (the default) 245.0 at its 5,000 steps. The
    minutes were not measured on an idle machine (docs/folders.md, "Fashion-MNIST at 28x28").
    """
    return Config(
        preset="dcgan_any_fashion",
        model="dcgan_any",
        dataset="fashion_mnist",
        image_shape=(28, 28, 1),
        loss="hinge",
        optimizer="rmsprop",
        g_lr=1e-3,
        d_lr=1e-3,
        batch_size=32,
        epochs=0,
        steps=5000,
        ema_decay=0.999,
        ema_warmup=True,
    )
