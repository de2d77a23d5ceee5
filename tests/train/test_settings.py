"""Determinism, mixed precision and execution settings."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from tests.conftest import run_cli, write_recipe


def history(run_dir):
    return [(float(r["loss"]), float(r["val_loss"])) for r in csv.DictReader(open(run_dir / "history.csv"))]


@pytest.mark.slow
def test_deterministic_runs_give_identical_losses(tmp_path):
    extra = {"train": {"epochs": 2, "deterministic": True, "regularization": {"dropout": 0.3}},
             "data": {"augment": {"flip": "horizontal", "brightness": 0.2}}}
    for name in ("a", "b"):
        recipe = write_recipe(tmp_path / f"{name}.yaml", extra, output=tmp_path / name)
        out = run_cli("train", recipe)
        assert out.returncode == 0, out.stderr
    assert history(tmp_path / "a") == history(tmp_path / "b")


def test_mixed_precision_trains_without_nan_and_saves_float32(tiny_recipe):
    import keras

    from visiontk import train
    from visiontk.model_files import load_keras_model

    # float16 is emulated on CPU (slow): LeNet-5 and a few steps (the head stays float32)
    r = tiny_recipe({"train": {"epochs": 1, "mixed_precision": "mixed_float16", "steps_per_execution": 2}})
    result = train(r, echo=lambda s: None)
    rows = list(csv.DictReader(open(result.run_dir / "history.csv")))
    assert np.isfinite(float(rows[0]["loss"])) and np.isfinite(float(rows[0]["val_loss"]))
    model = load_keras_model(result.run_dir / "model.keras")
    assert {layer.dtype_policy.name for layer in model.layers} <= {"float32"}
    assert all(w.dtype == "float32" for w in model.weights)
    y = model(np.zeros((1, 32, 32, 3), np.float32))
    assert keras.backend.standardize_dtype(y.dtype) == "float32" and np.isfinite(np.asarray(y)).all()
