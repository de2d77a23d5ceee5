"""Optimisers and learning-rate schedules of the seeds, by name.

Weight decay (recipe `train.regularization.weight_decay`) is applied by the optimizer to kernels only
(biases and batch-norm scales/offsets are excluded). It is decoupled decay: each step subtracts
lr * wd * w outside the gradient. Only for plain SGD (momentum 0) is that the same as an L2 penalty of
(wd / 2) * ||w||^2 added to the loss; with momentum (SGDW) and for the adaptive optimisers (as in
AdamW) the decay does not pass through the momentum or the per-parameter scaling, so it differs.
"""

from __future__ import annotations

from visiontk.catalog import OPTIMIZERS, SCHEDULES

_NO_DECAY = ["bias", "gamma", "beta", "moving_mean", "moving_variance", "centers"]


def _kw(cfg, names):
    return {n: getattr(cfg, n) for n in names if getattr(cfg, n) is not None}


def _opt(cls_name, params):
    def factory(cfg, learning_rate, weight_decay=0.0):
        import keras

        cls = getattr(keras.optimizers, cls_name)
        extra = {"weight_decay": weight_decay} if weight_decay else {}
        if cfg.clipnorm is not None:
            extra["clipnorm"] = cfg.clipnorm
        opt = cls(learning_rate=learning_rate, **_kw(cfg, [p for p in params if p != "clipnorm"]), **extra)
        if weight_decay:
            opt.exclude_from_weight_decay(var_names=_NO_DECAY)
        return opt

    return factory


OPTIMIZERS.add("sgd", _opt("SGD", ("momentum", "nesterov", "clipnorm")),
               params=("momentum", "nesterov", "clipnorm"))
OPTIMIZERS.add("adagrad", _opt("Adagrad", ("initial_accumulator_value", "epsilon", "clipnorm")),
               params=("initial_accumulator_value", "epsilon", "clipnorm"))
OPTIMIZERS.add("rmsprop", _opt("RMSprop", ("rho", "momentum", "epsilon", "clipnorm")),
               params=("rho", "momentum", "epsilon", "clipnorm"))
OPTIMIZERS.add("adam", _opt("Adam", ("beta_1", "beta_2", "epsilon", "clipnorm")),
               params=("beta_1", "beta_2", "epsilon", "clipnorm"))
OPTIMIZERS.add("adamw", _opt("AdamW", ("beta_1", "beta_2", "epsilon", "clipnorm")),
               params=("beta_1", "beta_2", "epsilon", "clipnorm"))


# Schedules: factory(cfg, base_lr, steps_per_epoch, epochs) -> float or keras LearningRateSchedule.
# `plateau` returns the base rate here; the loop adds a ReduceLROnPlateau callback for it.

@SCHEDULES.register("constant", params=())
def constant(cfg, base_lr, steps_per_epoch, epochs):
    return base_lr


@SCHEDULES.register("step", params=("drop_every_epochs", "factor"))
def step(cfg, base_lr, steps_per_epoch, epochs):
    """lr = base * factor ** floor(epoch / drop_every_epochs) (seed 001: step decay)."""
    import keras

    return keras.optimizers.schedules.ExponentialDecay(
        base_lr, decay_steps=(cfg.drop_every_epochs or 10) * steps_per_epoch,
        decay_rate=cfg.factor if cfg.factor is not None else 0.1, staircase=True)


@SCHEDULES.register("exponential", params=("decay_rate", "decay_epochs"))
def exponential(cfg, base_lr, steps_per_epoch, epochs):
    """lr = base * decay_rate ** (epoch / decay_epochs), smoothly (seed 001: exponential decay)."""
    import keras

    return keras.optimizers.schedules.ExponentialDecay(
        base_lr, decay_steps=(cfg.decay_epochs or 1.0) * steps_per_epoch,
        decay_rate=cfg.decay_rate if cfg.decay_rate is not None else 0.9)


@SCHEDULES.register("inverse_time", params=("decay_rate", "decay_epochs"))
def inverse_time(cfg, base_lr, steps_per_epoch, epochs):
    """lr = base / (1 + decay_rate * epoch / decay_epochs) (seed 001: 1/t decay)."""
    import keras

    return keras.optimizers.schedules.InverseTimeDecay(
        base_lr, decay_steps=(cfg.decay_epochs or 1.0) * steps_per_epoch,
        decay_rate=cfg.decay_rate if cfg.decay_rate is not None else 0.5)


@SCHEDULES.register("cosine", params=("warmup_epochs", "min_lr"))
def cosine(cfg, base_lr, steps_per_epoch, epochs):
    """Cosine decay to min_lr over the run, after an optional linear warm-up."""
    import keras

    warm = (cfg.warmup_epochs or 0) * steps_per_epoch
    total = max(1, epochs * steps_per_epoch - warm)
    alpha = (cfg.min_lr or 0.0) / base_lr
    if warm:
        return keras.optimizers.schedules.CosineDecay(
            0.0, total, alpha=alpha, warmup_target=base_lr, warmup_steps=warm)
    return keras.optimizers.schedules.CosineDecay(base_lr, total, alpha=alpha)


@SCHEDULES.register("plateau", params=("factor", "patience", "min_lr", "monitor"))
def plateau(cfg, base_lr, steps_per_epoch, epochs):
    """Constant until `monitor` stops improving for `patience` epochs, then times `factor`."""
    return base_lr


def build_optimizer(train_cfg, steps_per_epoch: int, epochs: int):
    """The keras optimizer for a recipe's `train` section."""
    lr = SCHEDULES.get(train_cfg.schedule.name)(
        train_cfg.schedule, train_cfg.optimizer.learning_rate, max(1, steps_per_epoch), epochs)
    return OPTIMIZERS.get(train_cfg.optimizer.name)(
        train_cfg.optimizer, lr, train_cfg.regularization.weight_decay)
