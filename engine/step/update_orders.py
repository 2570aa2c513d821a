"""The GAN step in cross-replica context: the update orders (simultaneous, alternating with n_critic D updates).

Each update is two phases: gradients on every replica (engine.step.phases, run guarded), then the update, applied only
if every replica's losses and gradients are finite and the balance rule allows it: a decision taken once, in
cross-replica context, so all replicas take the same branch (an update inside tf.cond in replica context cannot
all-reduce). A skipped update leaves weights, optimizer state and statistics as they were; the step counter still
advances (the batch was consumed) and the skip is counted. Nothing here uses numpy or has Python side effects.
"""

import tensorflow as tf

from engine.config import Config
from engine.step import guard, phases
from engine.step import objectives as obj

SUM = tf.distribute.ReduceOp.SUM


def both(a, b):
    """a and b, staying Python True when both are (apply_if then needs no tf.cond)."""
    if a is True:
        return b
    if b is True:
        return a
    return tf.logical_and(a, b)


class Replicas:
    """Runs one GAN's per-replica functions on a strategy, each compiled once (XLA when `jit_compile`)."""

    def __init__(self, gan, strategy: tf.distribute.Strategy, *, jit_compile: bool, guard: bool = True):
        self.gan, self.strategy, self.jit_compile = gan, strategy, jit_compile
        # guard=False only measures what the divergence guard costs (benchmarks/step_cost.py): a run keeps it on.
        self.guard = guard
        self._compiled = {}  # by function object: every traced step reuses one compiled function per phase

    def _fn(self, key, make):
        if key not in self._compiled:
            fn = make()
            self._compiled[key] = tf.function(fn, jit_compile=True) if self.jit_compile else fn
        return self._compiled[key]

    def run(self, fn, *args):
        """`fn(gan, *args)` on every replica."""
        return self.strategy.run(self._fn(fn, lambda: lambda *a: fn(self.gan, *a)), args=args)

    def total(self, value):
        return self.strategy.reduce(SUM, value, axis=None)

    def gradients(self, phase, *args):
        """Runs a gradients phase guarded: (its per-replica outputs, whether every replica's were finite). When
        any was not, the statistics its forward pass moved are put back."""
        if not self.guard:
            return self.run(phase, *args), True
        out, bad, before = self.strategy.run(self._fn(("guarded", phase), lambda: guard.guarded(self.gan, phase)), args)
        ok = tf.equal(self.total(bad), 0.0)
        if self.gan.statistics:
            self.run(guard.restore_statistics, before, ok)
        return out, ok

    def apply_if(self, condition, update, *grads) -> None:
        """Runs `update(gan, *grads)` on every replica when `condition` (a scalar bool tensor, or Python True: then
        without a tf.cond) holds."""
        if condition is True:
            self.run(update, *grads)
            return

        def do():
            self.run(update, *grads)
            return tf.constant(True)

        tf.cond(condition, do, lambda: tf.constant(False))


def update_d(gan, grads):
    gan.d_optimizer.apply_gradients(zip(grads, gan.discriminator.trainable_variables, strict=True))


def update_g(gan, grads):
    gan.g_optimizer.apply_gradients(zip(grads, gan.generator.trainable_variables, strict=True))


def update_d_penalty(gan, grads):
    """D's update on a penalty of the input gradient, which does not reach the last layer's bias (its gradient is
    None): those variables are left out, not given a zero gradient (Adam would still move them by its momentum)."""
    pairs = [(g, v) for g, v in zip(grads, gan.discriminator.trainable_variables, strict=True) if g is not None]
    gan.d_optimizer.apply_gradients(pairs)


def update_both(gan, d_grads, g_grads):
    update_d(gan, d_grads)
    update_g(gan, g_grads)


def balance(cfg: Config, losses: dict):
    """(apply D's update?, apply G's?, the skip flags to log): the balance rule skips the update of the network that
    is ahead, judged on the global losses; without the rule both always apply and nothing is logged."""
    if not (cfg.balance_d or cfg.balance_g):
        return True, True, {}
    d, g = losses["d_loss"], losses["g_loss"]
    apply_d = True if not cfg.balance_d else tf.logical_not(d * cfg.balance_d < g)
    apply_g = True if not cfg.balance_g else tf.logical_not(g * cfg.balance_g < d)
    flags = {"d_skipped": 1.0 - tf.cast(apply_d, tf.float32), "g_skipped": 1.0 - tf.cast(apply_g, tf.float32)}
    return apply_d, apply_g, flags


def simultaneous(replicas: Replicas, batch):
    """One forward pass, both gradients, then both updates (TF's DCGAN tutorial)."""
    (d_loss, g_loss, accuracy, d_grads, g_grads), ok = replicas.gradients(phases.both_gradients, batch)
    losses = {"d_loss": replicas.total(d_loss), "g_loss": replicas.total(g_loss)}
    apply_d, apply_g, flags = balance(replicas.gan.cfg, losses)
    if flags:
        replicas.apply_if(both(ok, apply_d), update_d, d_grads)
        replicas.apply_if(both(ok, apply_g), update_g, g_grads)
    else:
        replicas.apply_if(ok, update_both, d_grads, g_grads)
    return {**losses, **flags}, replicas.total(accuracy), [ok]


def critic_update(replicas: Replicas, batch, salt, apply_d):
    """One D update on the real batch and fakes drawn with `salt`: (global loss, accuracy, finite?)."""
    (loss, accuracy, grads), ok = replicas.gradients(phases.d_gradients, batch, salt)
    replicas.apply_if(both(ok, apply_d), update_d, grads)
    return replicas.total(loss), replicas.total(accuracy), [ok]


def split_critic_update(replicas: Replicas, batch, salt, apply_d):
    """D's update as two, like two `train_on_batch` calls: on the real batch, then on fakes drawn with `salt`."""
    sides, oks = [], []
    for side in (phases.REAL_SIDE, salt):
        (loss, accuracy, grads), ok = replicas.gradients(phases.d_side_gradients, batch, side)
        replicas.apply_if(both(ok, apply_d), update_d, grads)
        sides.append((replicas.total(loss), replicas.total(accuracy)))
        oks.append(ok)
    (real_loss, real_stats), (fake_loss, fake_stats) = sides
    return replicas.gan.adversarial.combine(real_loss, fake_loss), obj.d_stats(real_stats, fake_stats), oks


def alternating(replicas: Replicas, batch):
    """n_critic D updates on fresh fakes, then one G update against the updated D; each update guarded. With the
    balance rule, the losses on the step's first latents decide first which updates apply."""
    cfg, oks = replicas.gan.cfg, []
    losses, apply_d, apply_g, flags = {}, True, True, {}
    if cfg.balance_d or cfg.balance_g:
        (d_now, g_now), ok = replicas.gradients(phases.current_losses, batch)
        losses = {"d_loss": replicas.total(d_now), "g_loss": replicas.total(g_now)}
        apply_d, apply_g, flags = balance(cfg, losses)
        oks.append(ok)
    critic = split_critic_update if cfg.d_split_real_fake else critic_update
    for k in range(1, cfg.n_critic + 1):  # D's k-th update draws with salt k
        d_loss, accuracy, critic_oks = critic(replicas, batch, k, apply_d)
        oks += critic_oks
    (g_loss, g_grads), ok = replicas.gradients(phases.g_gradients, batch)
    replicas.apply_if(both(ok, apply_g), update_g, g_grads)
    losses = losses or {"d_loss": d_loss, "g_loss": replicas.total(g_loss)}
    return {**losses, **flags}, accuracy, oks + [ok]


UPDATE_ORDERS = {"simultaneous": simultaneous, "alternating": alternating}


def lazy_r1(replicas: Replicas, batch):
    """Every r1_every-th step, a separate D update on the R1 penalty alone (StyleGAN2's lazy regularisation);
    returns whether it was finite (true on the steps without one)."""
    gan = replicas.gan

    def r1_update():
        (_, grads), ok = replicas.gradients(phases.r1_gradients, batch)
        replicas.apply_if(ok, update_d_penalty, grads)
        return tf.convert_to_tensor(ok)

    due = tf.equal(gan.step_counter % gan.cfg.r1_every, 0)
    return tf.cond(due, r1_update, lambda: tf.constant(True))


def distributed_step(replicas: Replicas, batch) -> dict:
    """One GAN step over all replicas: the configured update order, then the EMA and the step counter. Returns the
    global mean losses, D's accuracies, `nonfinite` (1.0 if the step was skipped) and, with the balance rule, its
    skip flags."""
    gan = replicas.gan
    out, accuracy, oks = UPDATE_ORDERS[gan.cfg.update_order](replicas, batch)
    out["d_acc_real"], out["d_acc_fake"] = accuracy[0], accuracy[1]
    if gan.cfg.r1_weight:
        oks.append(lazy_r1(replicas, batch))
    ok = tf.reduce_all(tf.stack(oks))
    out["nonfinite"] = guard.count(gan, ok)
    if gan.augment_policy:
        gan.adapt_augmentation(accuracy[0], ok)
        out["augment_p"] = tf.identity(gan.augment_p)
    if gan.cfg.lecam_weight:
        gan.track_outputs(accuracy[2], accuracy[3], ok)
    gan.update_ema()
    gan.step_counter.assign_add(1)
    return out
