"""Every selectable loss of the counting and denoising heads compiles and trains one batch, and the
loss Keras reports is that loss's formula on the model's own predictions (so the recipe's choice
really reaches compile)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.tiny_recipes import all_recipes

X = np.random.default_rng(0).random((4, 32, 32, 3)).astype(np.float32)
COUNTS = np.array([[0.0], [1.0], [2.0], [3.0]], np.float32)


def _poisson(y, p):
    return np.mean(p - y * np.log(p + 1e-7))


FORMULAS = {
    "mse": lambda y, p: np.mean((y - p) ** 2),
    "mae": lambda y, p: np.mean(np.abs(y - p)),
    "huber": lambda y, p: np.mean(np.where(np.abs(y - p) <= 1, 0.5 * (y - p) ** 2, np.abs(y - p) - 0.5)),
    "poisson": _poisson,
    "bce": lambda y, p: np.mean(-(y * np.log(np.clip(p, 1e-7, 1)) + (1 - y) * np.log(np.clip(1 - p, 1e-7, 1)))),
}


def _one_batch(p, x, y):
    """(predictions before the step, the step's reported loss); the loss is computed before the update."""
    p.model.compile(optimizer="adam", loss=p.task.loss())
    before = np.asarray(p.model.predict_on_batch(x), np.float64)
    logs = p.model.train_on_batch(x, y, return_dict=True)
    return before, float(logs["loss"])


@pytest.mark.parametrize("loss", ["mse", "mae", "huber", "poisson"])
def test_counting_losses_train_one_batch(tiny_recipe, loss):
    from visiontk.train.session import prepare

    p = prepare(tiny_recipe({**all_recipes()["counting"], "model": {"head": {"loss": loss}}}))
    if loss == "poisson":           # a negative pre-activation: softplus must still give a count > 0
        bias = p.model.get_layer("count").bias
        bias.assign(np.full(bias.shape, -20.0, np.float32))
    before, value = _one_batch(p, X, COUNTS)
    assert before.shape == (4, 1) and np.isfinite(value)
    assert value == pytest.approx(FORMULAS[loss](COUNTS, before), rel=1e-4, abs=1e-5)
    if loss == "poisson":
        assert (before > 0).all() and (np.asarray(p.model.predict_on_batch(X)) > 0).all()


@pytest.mark.parametrize("loss", ["mse", "mae", "bce"])
def test_denoising_losses_train_one_batch(tiny_recipe, loss):
    from visiontk.train.session import prepare

    p = prepare(tiny_recipe({"task": "denoising", "model": {
        "backbone": {"name": "autoencoder_cnn", "params": {"filters": [4, 8], "dense_code": 16,
                                                           "downsample": "stride"}},
        "head": {"loss": loss}}}))
    before, value = _one_batch(p, p.task.corrupt(X).numpy(), X)
    assert before.shape == X.shape and np.isfinite(value)
    assert value == pytest.approx(FORMULAS[loss](X, before), rel=1e-3, abs=1e-5)
