"""Which epoch becomes the run's model: the best by the monitor, or with `last` the last one."""

from __future__ import annotations

import json

import numpy as np
import pytest


def _epochs(tmp_path, monitor, values):
    """Run BestLast over epochs whose weights are all `epoch` and whose logs carry `values`."""
    import keras

    from visiontk.train.callbacks import BestLast

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    cb = BestLast(tmp_path / "ckpt", monitor, "max")
    cb.set_model(model)
    for epoch, value in enumerate(values):
        model.set_weights([np.full(w.shape, epoch, np.float32) for w in model.get_weights()])
        cb.on_epoch_end(epoch, {"val_recall@1": value})
    model.load_weights(str(tmp_path / "ckpt" / "best.weights.h5"))
    return cb, float(model.get_weights()[0].flat[0]), json.loads((tmp_path / "ckpt" / "best.json").read_text())


@pytest.mark.parametrize("monitor,epoch,value", [("val_recall@1", 1, 0.9), ("last", 3, None)])
def test_best_checkpoint_follows_the_monitor_or_the_last_epoch(tmp_path, monitor, epoch, value):
    cb, weights_epoch, best = _epochs(tmp_path, monitor, [0.5, 0.9, 0.7, 0.6])
    assert weights_epoch == epoch and cb.best_epoch == epoch
    assert best == {"monitor": monitor, "value": value, "epoch": epoch + 1}
    assert cb.reported == value


def test_recipe_with_last_makes_the_last_epoch_the_model(tiny_recipe):
    from visiontk import train

    r = tiny_recipe({"train": {"epochs": 2, "checkpoint_monitor": "last"}})
    result = train(r, echo=lambda s: None)
    assert result.metrics["train"]["best"] == {"monitor": "last", "value": None, "epoch": 2}
