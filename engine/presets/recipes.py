"""The engine's own recipes: its best settings, each measured (benchmarks/results/)."""

import dataclasses

from engine.config import Config
from engine.presets.registry import recipe

# The engine's EMA of G, in each of its recipes that keeps one: decay 0.999, warm-up min(0.999, (1 + t) / (10 + t)).
EMA = dict(ema_decay=0.999, ema_warmup=True)
STEPS_FAST = 5000  # dcgan_fashion_fast's length: its whole command in under 6 minutes on 2 CPU cores (measured below)


@recipe
def dcgan_fashion_fast() -> Config:
    """Engine recipe, the default until 2026-12-06 (now dcgan_any_fashion, which measured better and faster side by
    side): the tutorial's networks (dcgan_fashion, batch 32) with the engine's optimizer, RMSprop(1e-3), the
    simultaneous step and an EMA of G, cut to a few CPU minutes.

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
    Run: `python -m engine.train --preset dcgan_fashion_fast --strategy mirrored`. What to expect, measured on a
    2-core AMD EPYC (docs/quality.md, shipped evaluator, 5,000 samples): the whole command in 5 min 38 s (4.4 minutes of
    training), FID 241.7 (245.0 in the quality benchmark's own run), precision 0.81, recall 0.81, class entropy 0.98;
    with the engine's Dropout in D, on the machine idle: 3 min 33 s (2 min 57 s of training), FID 244.1, recall 0.75;
    dcgan_fashion as published reaches 254.0 after its 10 epochs (18,750 steps). Side by side with dcgan_any_fashion
    (2026-12-06, below): 5 min 31 s for the whole command, FID 245.5.
    """
    return Config(
        model="dcgan_fashion",
        dataset="fashion_mnist",
        optimizer="rmsprop",
        g_lr=1e-3,
        d_lr=1e-3,
        batch_size=32,
        epochs=0,
        steps=STEPS_FAST,
        **EMA,
    )


@recipe
def dcgan_fashion_long() -> Config:
    """Engine recipe, the best unconditional one for half an hour: the default's recipe (dcgan_fashion_fast) trained
    30,000 steps (16 epochs), about 30 minutes on 2 CPU cores (the conditional cdcgan_fashion_long does far better).

    Run: `python -m engine.train --preset dcgan_fashion_long --strategy mirrored`. What to expect, measured on a
    2-core AMD EPYC (docs/quality.md, shipped evaluator, 5,000 samples): 30,000 steps in 26.2 minutes of training,
    FID 241.2 after 5 minutes, 213.8 after 10, 209.9 at the end; precision 0.81, recall 0.84, class entropy 0.977.
    dcgan_fashion as published: 254.0 after its 18,750 steps.
    """
    return dataclasses.replace(dcgan_fashion_fast(), steps=30000)


@recipe
def dcgan_fashion_adam() -> Config:
    """Engine recipe: dcgan_fashion's networks with the DCGAN paper's optimizer, Adam(2e-4, beta1 0.5), batch 64,
    the simultaneous two-tape step (one forward pass feeds both losses), an EMA of G (0.999, warm-up); 3 epochs.

    The base of the recipe search (benchmarks/recipe_search.py): each trial changes one lever of it. Slower per CPU
    minute than RMSprop(1e-3) at batch 32 (FID 463 after 5 minutes, where the published recipe with RMSprop(1e-3),
    as that preset stood on 2026-12-02, was at 269).
    Run: `python -m engine.train --preset dcgan_fashion_adam --strategy mirrored`.
    """
    return Config(
        model="dcgan_fashion",
        dataset="fashion_mnist",
        batch_size=64,
        epochs=3,
        **EMA,
    )


@recipe
def cdcgan_fashion() -> Config:
    """Engine recipe: a class-conditional DCGAN on Fashion-MNIST, dcgan_fashion's networks with the label fed to
    G and to D, trained with the default's recipe (dcgan_fashion_fast: RMSprop 1e-3, batch 32, the simultaneous
    step, an EMA of G), 10,000 steps.

    Run: `python -m engine.train --preset cdcgan_fashion --strategy mirrored`; grids show one class per row.
    What to expect, measured on a 2-core AMD EPYC (docs/quality.md, `engine.evaluate`, 5,000 samples over the ten
    classes): FID 48.4, precision 0.90, recall 0.79, class entropy 0.996, class accuracy 0.897 (real images: 0.926),
    intra-class FID 68.2; 5,000 steps (4.95 minutes of training) gave FID 64.9, so 10,000 take about 10 minutes.
    """
    return dataclasses.replace(dcgan_fashion_fast(), model="cdcgan_fashion", num_classes=10, steps=10000)


@recipe
def cdcgan_fashion_long() -> Config:
    """Engine recipe, the recommended one for half an hour: cdcgan_fashion trained for 33,000 steps (what 30
    minutes of training gave on a 2-core AMD EPYC).

    Run: `python -m engine.train --preset cdcgan_fashion_long --strategy mirrored` (add `--time-limit 30` to stop
    at 30 minutes on a slower machine). What to expect, measured here (benchmarks/results/quality.md, shipped
    evaluator, 5,000 samples over the ten classes): FID 61.7 after 5 minutes, 46.1 after 10, 43.2 after 20 and
    43.5 after 30 (33,020 steps); at 30 minutes precision 0.91, recall 0.82, class entropy 0.996, class accuracy
    0.90, intra-class FID 62.7. The published recipe ends at FID 254.0 (precision 0.81, recall 0.78).
    """
    return dataclasses.replace(cdcgan_fashion(), steps=33000)


@recipe
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
    return dataclasses.replace(cdcgan_fashion(), model="cdcgan_fashion_aux")


@recipe
def dcgan_fashion_modern() -> Config:
    """Engine recipe (the earlier "recommended" one): dcgan_fashion's networks with the hinge loss, spectral
    normalisation on D and an EMA of G (0.995), Adam(2e-4, 0.5), batch 128, the simultaneous step.

    Spectral norm bounds D's Lipschitz constant (Miyato et al. 2018, hinge + SN at Adam(2e-4, 0.5, 0.999)); the
    EMA of G's weights averages out the step-to-step oscillation of the game (Yazici et al. 2019). It lost to the
    tutorial recipe per epoch in the earlier benchmark (benchmarks/results/quality.md).
    Run: `python -m engine.train --preset dcgan_fashion_modern --eval-every 1`.
    """
    return Config(
        model="dcgan_fashion",
        dataset="fashion_mnist",
        loss="hinge",
        spectral_norm=True,
        ema_decay=0.995,
    )


# The any-size family's recipe, shared by its presets: RMSprop(1e-3) for both, batch 32, an EMA of G with warm-up.
ANY_SIZE_RECIPE = dict(
    model="dcgan_any",
    optimizer="rmsprop",
    g_lr=1e-3,
    d_lr=1e-3,
    batch_size=32,
    epochs=0,
    **EMA,
)


@recipe
def folder() -> Config:
    """Engine recipe, the default for a folder of images (`python -m engine.train --data-dir DIR`): the any-size
    dcgan_any family at the shape picked from the images (engine.run.folder_plan), class-conditional (cdcgan_any) when
    the folder has class sub-folders, trained on every image (`train_split` "all") with the small-data levers on.

    DiffAugment (translation, cutout, colour) of every image D sees, its probability moved by ADA toward D's mean
    sign on real images of 0.6, starting at 0; lazy R1 (gamma 0.2, every 16 steps); RMSprop(5e-4) for both networks,
    D at half G's width (`d_width` 0.5), batch 32, the simultaneous step, an EMA of G (0.999, warm-up); 20,000 steps
    (`--time-limit MIN` stops sooner). Chosen among 10 variants at equal minutes (docs/folders.md, "How the folder
    recipe was chosen"): FID 18.2 against 21.3 for the recipe before (RMSprop(1e-3), D as wide as G).
    Run: `python -m engine.train --data-dir DIR [--image-size N]`. What to expect, measured on a 2-core AMD EPYC
    (docs/folders.md; benchmarks/results/quality_emoji): 3,786 emoji at 32x32 RGB, pixel-feature FID 28.1 after 2
    minutes, 18.2 after 10 and 16.8 after 30 (22,332 steps; the floor is 2.6): faces, people, smileys and hands
    recognisable, flags and hearts not. At 64x64, with the recipe before: 86.4 after 2 minutes, 30.9 after 10, 29.4
    after 30 (3,964 steps): colours and rough outlines, nothing recognisable yet.
    """
    return Config(
        dataset="image_folder",
        image_shape=(32, 32, 3),
        train_split="all",
        steps=20000,
        **ANY_SIZE_RECIPE | dict(g_lr=5e-4, d_lr=5e-4),
        d_width=0.5,
        augment="translation,cutout,color",
        augment_p=0.0,
        ada_target=0.6,
        r1_weight=0.2,
        r1_every=16,
        checkpoint_every=2000,
    )


@recipe
def folder_projected() -> Config:
    """Engine recipe: the folder recipe's generator against a discriminator on frozen pretrained features
    (projected_any: ImageNet MobileNetV2 through block_10 at strides 4, 8, 16, fixed random projections, a trained
    head per scale; Sauer et al. 2021), as Projected GAN trains it: hinge loss, Adam(2e-4, 0, 0.99), DiffAugment
    (translation, cutout, colour) always on, no R1; batch 32, the simultaneous step, an EMA of G (0.999, warm-up).
    The images are resized to 64x64 for the frozen network (`feature_size`). Needs the pretrained weights
    (`python -m engine.models.backbones.weights`; scripts/setup.sh fetches them).
    Run: `python -m engine.train --data-dir DIR --preset folder_projected [--image-size N]`.
    What to expect, measured on the 2-core CPU (docs/folders.md, "A discriminator on frozen pretrained features"):
    on 3,786 emoji at 32x32, 10 minutes on one core, pixel-feature FID 114.9 against the `folder` recipe's 20.1
    beside it: G collapsed to a texture the frozen features score as real, recall 0. Kept for longer runs and GPUs,
    where it is unmeasured; `folder` stays the folder default.
    """
    return Config(
        dataset="image_folder",
        image_shape=(32, 32, 3),
        train_split="all",
        steps=20000,
        **ANY_SIZE_RECIPE
        | dict(model="projected_any", optimizer="adam", g_lr=2e-4, d_lr=2e-4, beta1=0.0, beta2=0.99, loss="hinge"),
        augment="translation,cutout,color",
        augment_p=1.0,
        checkpoint_every=2000,
    )


@recipe
def dcgan_any_fashion() -> Config:
    """Engine recipe, the default (`python -m engine.train --strategy mirrored`): the any-size family dcgan_any at
    28x28x1 (7x7 base, two up-blocks; no BatchNorm or Dropout in D) with D at half G's width (`d_width` 0.5: G
    816,801 and D 36,513 parameters), hinge loss, RMSprop(1e-3) for both, batch 32, the simultaneous step, an EMA of
    G (0.999, warm-up), 8,000 steps. No augmentation or R1: 60,000 images are not memorised in 8,000 steps.

    What to expect, measured on the 2-core AMD EPYC (2026-12-06; `python -m engine.train --strategy mirrored`, then
    `python -m engine.evaluate`, shipped evaluator, 5,000 samples): the whole command in 5 min 15 s, FID 109.2,
    precision 0.78, recall 0.82, class entropy 0.99. On the way (one core each, 8,000 steps): D as wide as G 120.5,
    D at half width 114.5; at 5,000 steps with D as wide as G, the default until then, 139.2 (3 min 48 s for the
    whole command; dcgan_fashion_fast 245.5 in 5 min 31 s). The same recipe with one change each, at 5,000 steps:
    BCE 176.9; BCE with Adam(2e-4, 0.5) 233.3 (docs/folders.md, "Fashion-MNIST at 28x28").
    """
    return Config(
        dataset="fashion_mnist",
        image_shape=(28, 28, 1),
        loss="hinge",
        steps=8000,
        **ANY_SIZE_RECIPE,
        d_width=0.5,
    )
