"""Evaluation of a run (or of a model during training) through the task's own evaluate()."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from visiontk.errors import DataError
from visiontk.io import read_json, write_json
from visiontk.run import RunDir


def keras_predict_fn(model):
    """A batched numpy predict function: tf.function(model) (no per-call retracing)."""
    import numpy as np
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def predict(images):
        out = fn(tf.convert_to_tensor(images, tf.float32))
        if isinstance(out, dict):
            return {k: np.asarray(v) for k, v in out.items()}
        if isinstance(out, (list, tuple)):
            return [np.asarray(v) for v in out]
        return np.asarray(out)

    return predict


def numpy_batches(dataset) -> Iterable:
    for images, ann in dataset:
        yield images.numpy(), {k: v.numpy() for k, v in ann.items()}


def evaluate_prepared(p, model, split: str, out_dir=None, predict_fn=None) -> dict:
    from visiontk.data.pipeline import build_dataset

    data = p.source.load(split)
    ds = build_dataset(data, p.task, p.recipe, training=False, encode=False)
    fn = predict_fn or keras_predict_fn(model)
    split_dir = None
    if out_dir is not None:
        split_dir = Path(out_dir) / f"eval_{split}"
        split_dir.mkdir(parents=True, exist_ok=True)
    return p.task.evaluate(fn, numpy_batches(ds), split_dir)


def evaluate(run_dir: str | Path, split: str = "val", overrides: Iterable[str] = (),
             write: bool = True) -> dict:
    """Evaluate a finished run on one split; merges the result into metrics.json (with the
    overrides, when given, under `overrides`).

    Args:
        run_dir: a run directory left by `visiontk train`.
        split: val, test or train (what the data source has).
        overrides: recipe overrides, e.g. ["data.params.path=/data/other"].

    Example:
        >>> evaluate("runs/classify", "val")["accuracy"]  # doctest: +SKIP
        0.97
    """
    from visiontk.recipe import load_recipe
    from visiontk.train.loop import prepare
    from visiontk.train.model import load_keras_model

    overrides = list(overrides)       # read twice: the recipe, then the metrics entry
    run = RunDir(run_dir).require()
    recipe = load_recipe(run / "recipe.yaml", overrides)
    p = prepare(recipe, build=False)
    if split not in p.source.splits():
        raise DataError(f"data source '{recipe.data.source}' has no split '{split}'; it has: "
                        f"{', '.join(p.source.splits())}")
    model = load_keras_model(run / "model.keras")
    result = evaluate_prepared(p, model, split, out_dir=run.path)
    if overrides:                     # e.g. --data: say which data these figures are from
        result = {**result, "overrides": overrides}
    if write:
        metrics_path = run / "metrics.json"
        metrics = read_json(metrics_path) if metrics_path.is_file() else {}
        metrics[split] = result
        write_json(metrics_path, metrics)
    return result
