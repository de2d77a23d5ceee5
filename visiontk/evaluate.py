"""Evaluation of a run (or of a model during training) through the task's own evaluate()."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

from visiontk.errors import RunError
from visiontk.io import read_json, write_json
from visiontk.run import RunDir


def evaluate_prepared(p, model, split: str, *, run: RunDir | None = None, predict_fn=None,
                      folder: str | None = None, record: bool = True) -> dict:
    """The task's evaluation of `model` on `split` (its metrics). With `run`, its plots go to
    run/`folder` (default eval_<split>) and, when `record`, the decode settings the task measured
    (e.g. a verification threshold) are merged into the run's meta.json."""
    from visiontk.data.pipeline import build_dataset, numpy_batches
    from visiontk.model_files import keras_predict_fn
    from visiontk.runtime.meta import read_meta
    from visiontk.tasks.base import EvalContext

    data = p.source.load(split)
    ds = build_dataset(data, p.task, p.recipe, training=False, encode=False)
    fn = predict_fn or keras_predict_fn(model)
    split_dir = None
    meta = None
    if run is not None:
        split_dir = run / (folder or f"eval_{split}")
        split_dir.mkdir(parents=True, exist_ok=True)
        meta = read_meta(run / "meta.json") if (run / "meta.json").is_file() else None
    context = EvalContext(split, p.source.load, dict((meta or {}).get("decode", {})))
    result = p.task.evaluate(fn, numpy_batches(ds), split_dir, context)
    if record and meta is not None and result.decode_updates:
        meta["decode"] = {**meta.get("decode", {}), **result.decode_updates}
        write_json(run / "meta.json", meta)
    return result.metrics


OTHER_DATA = "other_data"      # metrics.json: evaluations with overrides (e.g. --data), by label


def other_data_label(split: str, overrides) -> str:
    """The metrics.json key under OTHER_DATA of an evaluation with overrides.

    Example:
        >>> other_data_label("val", ["data.params.path='/data/b'"])
        "val data.params.path='/data/b'"
    """
    return " ".join([split, *overrides])


def evaluate(run_dir: str | Path, split: str = "val", overrides: Iterable[str] = (),
             write: bool = True) -> dict:
    """Evaluate a finished run on one split; merges the result into metrics.json. Without overrides
    it is the run's own figure for `split`; with overrides (other data, e.g. --data) it is stored
    under `metrics.json["other_data"][other_data_label(split, overrides)]`, with the overrides, and
    the run's own validation / test figures stay as they are.

    Args:
        run_dir: a run directory left by `visiontk train`.
        split: val, test or train (what the data source has).
        overrides: recipe overrides, e.g. ["data.params.path=/data/other"].

    Example:
        >>> evaluate("runs/classify", "val")["accuracy"]  # doctest: +SKIP
        0.97
    """
    from visiontk.recipe import load_recipe
    from visiontk.train.session import prepare
    from visiontk.model_files import load_keras_model

    overrides = list(overrides)       # read twice: the recipe, then the metrics entry
    run = RunDir(run_dir).require()
    metrics = read_metrics(run) if write else {}        # a damaged file fails before the work
    recipe = load_recipe(run / "recipe.yaml", overrides)
    p = prepare(recipe, build=False)
    p.source.check_split(split)
    model = load_keras_model(run / "model.keras")
    label = other_data_label(split, overrides)
    # other data gets its own plots folder too: eval_<split>/ keeps the run's own
    folder = f"eval_{split}" if not overrides else \
        f"eval_{split}_" + hashlib.sha1(label.encode()).hexdigest()[:8]
    result = evaluate_prepared(p, model, split, run=run, folder=folder, record=not overrides)
    if overrides:                     # e.g. --data: say which data these figures are from
        result = {**result, "overrides": overrides, "plots": folder}
    if write:
        if overrides:
            metrics.setdefault(OTHER_DATA, {})[label] = result
        else:
            metrics[split] = result
        write_json(run / "metrics.json", metrics)
    return result


def read_metrics(run: RunDir) -> dict:
    """The run's metrics.json ({} when absent); a RunError naming it when it is damaged."""
    path = run / "metrics.json"
    if not path.is_file():
        return {}
    fix = ("move it away, then `visiontk evaluate` the run on its val (and test) split to write the "
           "run's own figures again")
    try:
        metrics = read_json(path, fix)
    except ValueError as exc:
        raise RunError(str(exc)) from None
    if not isinstance(metrics, dict):
        raise RunError(f"{path} holds a JSON {type(metrics).__name__}, not the run's metrics; {fix}")
    return metrics
