"""Each seed preset against its tutorial's recipe as published, quoted from the source (engine/presets/published.py)."""

import dataclasses
import os
import re
from pathlib import Path

import keras
import pytest

from engine.presets import ENGINE_RECIPES, PRESETS, PUBLISHED, get_preset
from engine.step.optimizers import make_optimizer

# What each tutorial's text and code train with, one row a setting: (value, where it comes from). A source is
# `NNN:LNN "quote"` (the seed text NNN_*.txt, its line NN holds the quote) or "not in the text: from X" (the linked
# code, or a framework default); texts are the authority, linked code fills only what they leave out.
# optimizer: (class, G lr, D lr, Adam betas or RMSprop rho); length: (epochs, steps, steps per epoch; 0 = the data
# / batch); data: (dataset, split trained on); order: D then G ("alternating") for all five; d_updates: D optimizer
# updates per step; g_latents: G's latents per real image; frozen_d_bn: G's update runs D's BatchNorm on its moving
# statistics; latent: (distribution, width); dropout: the rate the networks' Dropout layers run at; targets: D's
# (real, fake) label targets; balance: the loss-balance thresholds (G, D).
NO_RULE = "not in the text: from the engine's default (off)"
RECIPES = {
    "dcgan_fashion": dict(
        optimizer=(
            ("Adam", 1e-3, 1e-3, (0.9, 0.999)),
            '003:L171 "optimizer ="adam""; 003:L178 "optimizer ="adam"": Keras\'s default Adam(1e-3, 0.9, 0.999, '
            "epsilon 1e-7)",
        ),
        batch=(32, '003:L69 "batch_size = 32"'),
        length=(
            (10, 0, 0),
            '003:L244 "epochs = 10"; 003:L77 "drop_remainder = True": 60,000 // 32 = 1,875 steps an epoch',
        ),
        data=(("fashion_mnist", "train"), '003:L37 "tf.keras.datasets.fashion_mnist.load_data()"'),
        d_updates=(1, '003:L203 "discriminator.train_on_batch(X_fake_and_real, y1)"'),
        g_latents=(1, '003:L208 "noise = tf.random.normal(shape =[batch_size, num_features])"'),
        fresh_g_noise=(True, '003:L208 "noise = tf.random.normal(shape =[batch_size, num_features])": a new draw'),
        d_fakes_inference=(
            True,
            '003:L196 "generated_images = generator(noise)": a Keras call without `training` runs BatchNorm in '
            "inference mode",
        ),
        frozen_d_bn=(False, '003:L210 "discriminator.trainable = False": D has no BatchNorm, nothing to freeze'),
        latent=(("normal", 100), '003:L86 "num_features = 100"; 003:L195 "tf.random.normal"'),
        dropout=({0.3}, '003:L130 "keras.layers.Dropout(0.3)"'),
        targets=((1.0, 0.0), '003:L201 "y1 = tf.constant([[0.]] * batch_size + [[1.]] * batch_size)"'),
        balance=((0.0, 0.0), NO_RULE),
        l2=(0.0, NO_RULE),
    ),
    "alphabet": dict(
        optimizer=(
            ("Adam", 2e-4, 2e-4, (0.5, 0.999)),
            '000:L98 "学习率= ***0.0002***"; beta1 not in the text: from the notebook, `Adam(0.0002, 0.5)`',
        ),
        batch=(128, '000:L176 "批次大小是 128"'),
        length=((80, 0, 2909), '000:L176 "我已经训练了 80 个时期的模型"; 000:L176 "⌊372,450/128⌋= 2909"'),
        data=(
            ("az_csv", "train"),
            '000:L19 "***372，450*** 个字符": the loader holds out 10% for evaluation, `steps_per_epoch` keeps the '
            "text's 2909",
        ),
        d_updates=(1, '000:L184 "我们为鉴别器调用 train_on_batch 函数"'),
        g_latents=(1, '000:L188 "我们只需要噪声向量和标签"'),
        fresh_g_noise=(
            False,
            "not in the text: from the notebook, `gan.train_on_batch(input_gen, label_gen)` on D's `input_gen`",
        ),
        d_fakes_inference=(True, "not in the text: from the notebook, `fake_data = generator.predict(input_gen)`"),
        frozen_d_bn=(False, '000:L143 "trainiable = False": D has no BatchNorm, nothing to freeze'),
        latent=(("normal", 100), '000:L180 "从标准正态分布中随机抽取数字"; 000:L31 "噪声向量(***100***-维)"'),
        dropout=({0.5}, '000:L98 "***50%*** 的落差"'),
        targets=((0.9, 0.1), '000:L180 "代码说的是 0.1 和 0.9": the notebook gives fakes 0, the text wins'),
        balance=((0.0, 0.0), NO_RULE),
        l2=(0.0, NO_RULE),
    ),
    "dcgan_mnist": dict(
        optimizer=(
            ("Adam", 2e-4, 2e-4, (0.5, 0.999)),
            '001:L86 "Adam(lr=0.0002, beta_1=0.5)"; 001:L106 "Adam(lr=0.0002, beta_1=0.5)"',
        ),
        batch=(128, '001:L155 "n_batch=256"; 001:L157 "half_batch = int(n_batch / 2)"'),
        length=((5, 0, 234), '001:L155 "n_epochs=5"; 001:L156 "bat_per_epo = int(dataset.shape[0] / n_batch)"'),
        data=(("mnist", "train"), '001:L121 "(trainX, _), (_, _) = mnist.load_data()"'),
        d_updates=(1, '001:L169 "d_loss, _ = d_model.train_on_batch(X, y)"'),
        g_latents=(2, '001:L171 "X_gan = generate_latent_points(latent_dim, n_batch)"'),
        fresh_g_noise=(True, '001:L171 "X_gan = generate_latent_points(latent_dim, n_batch)"'),
        d_fakes_inference=(True, '001:L144 "X = g_model.predict(x_input)"'),
        frozen_d_bn=(False, '001:L98 "d_model.trainable = False": D has no BatchNorm, nothing to freeze'),
        latent=(("normal", 100), '001:L137 "x_input = randn(latent_dim * n_samples)"; 001:L184 "latent_dim = 100"'),
        dropout=({0.4}, '001:L79 "model.add(Dropout(0.4))"'),
        targets=((1.0, 0.0), '001:L134 "y = ones((n_samples, 1))"; 001:L146 "y = zeros((n_samples, 1))"'),
        balance=((0.0, 0.0), NO_RULE),
        l2=(0.0, NO_RULE),
    ),
    "acgan_mnist": dict(
        optimizer=(("Adam", 2e-4, 2e-4, (0.5, 0.999)), '002:L235 "optimizer = Adam(0.0002, 0.5)"'),
        batch=(
            128,
            '002:L233 "def train(epochs, batch_size=128, sample_interval=10):"; the prose\'s 100, 002:L332 '
            '"每次迭代的batch大小为100", contradicts its own code',
        ),
        length=(
            (0, 14000, 0),
            "not in the text: from Keras-GAN acgan.py, `acgan.train(epochs=14000, batch_size=32, "
            "sample_interval=200)`, whose epochs are steps (the text never calls `train`)",
        ),
        data=(("mnist", "train"), '002:L266 "(X_train, y_train), (_, _) = load_mnist_data()"'),
        d_updates=(
            2,
            '002:L297 "d_loss_real = discriminator.train_on_batch(imgs, [valid, img_labels])"; 002:L298 '
            '"d_loss_fake = discriminator.train_on_batch(gen_imgs, [fake, sampled_labels])"',
        ),
        g_latents=(1, '002:L306 "g_loss = combined.train_on_batch([noise, sampled_labels], [valid, sampled_labels])"'),
        fresh_g_noise=(
            False,
            '002:L306 "g_loss = combined.train_on_batch([noise, sampled_labels], [valid, sampled_labels])": the '
            "step's noise and labels",
        ),
        d_fakes_inference=(True, '002:L294 "gen_imgs = generator.predict([noise, sampled_labels])"'),
        frozen_d_bn=(
            True,
            '002:L253 "discriminator.trainable = False"; 002:L121 "layers.BatchNormalization(momentum=0.8)": tf.keras '
            '2 (002:L261 "tf.keras.Model") runs a frozen BatchNorm on its moving statistics',
        ),
        latent=(("normal", 100), '002:L289 "noise = np.random.normal(0, 1, (batch_size, 100))"'),
        dropout=({0.25}, '002:L116 "model.add(layers.Dropout(0.25))"'),
        targets=(
            (1.0, 0.0),
            '002:L274 "valid = np.ones((batch_size, 1))"; 002:L275 "fake = np.zeros((batch_size, 1))"',
        ),
        balance=((0.0, 0.0), NO_RULE),
        l2=(0.0, NO_RULE),
    ),
    "dcgan_faces": dict(
        optimizer=(
            ("RMSprop", 2e-4, 1e-4, 0.9),
            '004:L58 "我们创建了两个不同的优化器"; which, not in the text: from DCGAN-face-creation.ipynb, '
            "`RMSPropOptimizer(learning_rate=0.0001)` for D and `0.0002` for G (rho 0.9: TF1's default decay)",
        ),
        batch=(64, '004:L32 "我们将批量大小设置为 64"; 004:L80 "以前面提到的相同方式训练 DCGAN"'),
        length=(
            (0, 60000, 0),
            'not in the text (004:L86 "训练了大约一个小时"): from the notebook, `for i in range(60000)`',
        ),
        data=(("image_folder", "all"), '004:L80 "LFW(野外标记人脸)"; 004:L80 "我将图像缩小到 40 x 40 像素"'),
        d_updates=(1, "not in the text: from the notebook, one `sess.run(optimizer_d, ...)` a step"),
        g_latents=(1, "not in the text: from the notebook, one `sess.run(optimizer_g, ...)` a step"),
        fresh_g_noise=(False, "not in the text: from the notebook, both updates feed the step's `noise: n`"),
        d_fakes_inference=(False, "not in the text: from the notebook, `is_training:True` in D's update"),
        frozen_d_bn=(False, "not in the text: from the notebook, D has no BatchNorm"),
        latent=(
            ("uniform", 100),
            '004:L32 "这些输入的数量被设置为 100"; uniform not in the text: from the notebook, '
            "`np.random.uniform(0.0, 1.0, ...)` (its `n_noise = 64` gives way to the text's 100)",
        ),
        dropout=(
            {0.4},
            '004:L32 "变量将由我们的辍学层使用，我们引入辍学层是为了获得更稳定的学习结果"; the rate not in the text: '
            "from the notebook, 1 - `keep_prob_train = 0.6`, in D (G's, before BatchNorm, would flatten samples)",
        ),
        targets=((1.0, 0.0), '004:L53 "接近 *1*"; 004:L54 "接近 *0*"'),
        balance=(
            (1.35, 1.35),
            '004:L64 "通过平衡它们的损失"; the thresholds not in the text: from the notebook, `g_ls * 1.35 < d_ls`, '
            "`d_ls * 1.35 < g_ls`",
        ),
        l2=(
            5e-7,
            '004:L58 "我们也应用一些正则化"; the weight not in the text: from the notebook, `l2_regularizer(1e-6)`, '
            "i.e. 1e-6 * sum(w^2) / 2",
        ),
    ),
    "balanced_dcgan_mnist": dict(
        optimizer=(
            ("RMSprop", 1.5e-4, 1.5e-4, 0.9),
            '004:L58 "我们创建了两个不同的优化器"; which, not in the text: from DCGAN-MNIST.ipynb, '
            "`RMSPropOptimizer(learning_rate=0.00015)` for both (rho 0.9: TF1's default decay)",
        ),
        batch=(64, '004:L32 "我们将批量大小设置为 64"'),
        length=((0, 60000, 0), "not in the text: from the notebook, `for i in range(60000)`"),
        data=(("mnist", "train"), '004:L32 "使用 tensorflow 自己的方法来访问批量的 MNIST 字符"'),
        d_updates=(1, "not in the text: from the notebook, one `sess.run(optimizer_d, ...)` a step"),
        g_latents=(1, "not in the text: from the notebook, one `sess.run(optimizer_g, ...)` a step"),
        fresh_g_noise=(False, "not in the text: from the notebook, both updates feed the step's `noise: n`"),
        d_fakes_inference=(False, "not in the text: from the notebook, `is_training:True` in D's update"),
        frozen_d_bn=(False, "not in the text: from the notebook, D has no BatchNorm"),
        latent=(
            ("uniform", 100),
            '004:L32 "这些输入的数量被设置为 100"; uniform not in the text: from the notebook, '
            "`np.random.uniform(0.0, 1.0, ...)` (its `n_noise = 64` gives way to the text's 100)",
        ),
        dropout=(
            {0.4},
            '004:L32 "变量将由我们的辍学层使用，我们引入辍学层是为了获得更稳定的学习结果"; the rate not in the text: '
            "from the notebook, 1 - `keep_prob_train = 0.6`, in D (G's, before BatchNorm, would flatten samples)",
        ),
        targets=((1.0, 0.0), '004:L53 "接近 *1*"; 004:L54 "接近 *0*"'),
        balance=(
            (1.5, 2.0),
            '004:L64 "通过平衡它们的损失"; the thresholds not in the text: from the notebook, `g_ls * 1.5 < d_ls`, '
            "`d_ls * 2 < g_ls`",
        ),
        l2=(
            5e-7,
            '004:L58 "我们也应用一些正则化"; the weight not in the text: from the notebook, `l2_regularizer(1e-6)`, '
            "i.e. 1e-6 * sum(w^2) / 2",
        ),
    ),
}
# Where the seed texts are: beside the checkout (../shared/seeds), or $GAN_SEED_TEXTS.
SEED_TEXTS = Path(os.environ.get("GAN_SEED_TEXTS", Path(__file__).resolve().parents[3] / "shared" / "seeds"))
QUOTE = re.compile(r'(\d{3}):L(\d+) "(.+?)"(?=$|[ ;:,)])')


def as_built(name: str) -> dict:
    """The same settings, read from the preset's Config and from the optimizers and networks it builds."""
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
        data=(cfg.dataset, cfg.train_split),
        d_updates=cfg.n_critic * (2 if cfg.d_split_real_fake else 1),
        g_latents=cfg.g_batch_factor,
        fresh_g_noise=not cfg.g_reuses_noise,
        d_fakes_inference=cfg.d_fakes_inference,
        frozen_d_bn=cfg.d_frozen_bn_in_g_step,
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
    expected = {k: value for k, (value, _) in RECIPES[name].items()}
    assert set(built) == set(expected)
    kind, g_lr, d_lr, shape = built.pop("optimizer")
    want_kind, want_g, want_d, want_shape = expected.pop("optimizer")
    assert (kind, shape) == (want_kind, pytest.approx(want_shape))
    assert (g_lr, d_lr) == (pytest.approx(want_g), pytest.approx(want_d))
    assert built == expected


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_row_quotes_its_text_or_names_its_source(name):
    for key, (_, source) in RECIPES[name].items():
        assert QUOTE.search(source) or source.startswith("not in the text: from "), (name, key, source)


def seed_lines(number: str) -> list[str]:
    (path,) = SEED_TEXTS.glob(f"{number}_*.txt")
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.skipif(not SEED_TEXTS.is_dir(), reason="the seed texts are not beside this checkout")
@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_quote_is_on_the_line_it_cites(name):
    for key, (_, source) in RECIPES[name].items():
        for number, line, quote in QUOTE.findall(source):
            assert quote in seed_lines(number)[int(line) - 1], f"{name}.{key}: {number}:L{line} lacks {quote!r}"


def test_dcgan_fashion_compiles_with_keras_default_adam():
    """003:L171/L178 `optimizer ="adam"`: every setting of Keras's Adam() at its default, not only the lr."""
    cfg = get_preset("dcgan_fashion")
    built, default = make_optimizer(cfg, cfg.g_lr), keras.optimizers.Adam()
    for name in ("learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad"):
        assert float(getattr(built, name)) == pytest.approx(float(getattr(default, name))), name


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
