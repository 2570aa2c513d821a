"""The five tutorials' recipes as published: the networks, optimizer, batch, length and step order of the source
(the seed texts in shared/seeds/), every remaining difference named in the docstring."""

from engine.config import Config
from engine.presets.registry import published


@published
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


@published
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


@published
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


@published
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


# What seed text 004's two recipes share (their docstrings' {mohr} paragraph says where each comes from).
MOHR_RECIPE = dict(
    latent_dim=100,
    latent_distribution="uniform",
    output_activation="sigmoid",
    optimizer="rmsprop",
    l2=5e-7,
    batch_size=64,
    epochs=0,
    steps=60000,
    update_order="alternating",
    g_reuses_noise=True,
    dropout=0.4,  # 1 - keep_prob (0.6)
)


@published
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
        model="dcgan_faces",
        dataset="image_folder",
        image_shape=(40, 40, 3),
        train_split="all",  # all of LFW
        d_lr=1e-4,
        g_lr=2e-4,
        balance_g=1.35,
        balance_d=1.35,
        **MOHR_RECIPE,
    )


@published
def balanced_dcgan_mnist() -> Config:
    """As published: the same text's MNIST DCGAN (seed text 004; code: DCGAN-MNIST.ipynb) with its loss-balance
    rule. G 210,641 and D 1,812,481 parameters.

    RMSProp lr 1.5e-4 for both networks. G's update is skipped when g_loss * 1.5 < d_loss, D's when
    d_loss * 2 < g_loss, on the losses before the step's updates.
    {mohr}
    Run: `python -m engine.train --preset balanced_dcgan_mnist` (needs MNIST).
    """
    return Config(
        model="balanced_dcgan_mnist",
        dataset="mnist",
        d_lr=1.5e-4,
        g_lr=1.5e-4,
        balance_g=1.5,
        balance_d=2.0,
        **MOHR_RECIPE,
    )


dcgan_faces.__doc__ = dcgan_faces.__doc__.replace("{mohr}", _MOHR)
balanced_dcgan_mnist.__doc__ = balanced_dcgan_mnist.__doc__.replace("{mohr}", _MOHR)
