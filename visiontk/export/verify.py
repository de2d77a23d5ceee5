"""Verification of an export: every format against the float32 Keras model on real validation images,
raw outputs (max absolute / relative difference per output) and decoded predictions, compared by the
task's own Prediction type (runtime/<task>.py: same classes, boxes within 1e-3 of the image size,
same counts, same masks, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from visiontk.errors import VisionTKError

def verification_batch(run_dir: Path | None, meta: dict, n: int = 8, seed: int = 0):
    """(float32 batch at the input size, description): the first `n` images of the run's validation
    split, or deterministic random images when the run's data cannot be loaded here."""
    shape = tuple(meta["input"]["shape"])
    reason = "no run directory"
    if run_dir is not None and (Path(run_dir) / "recipe.yaml").is_file():
        try:
            return _validation_images(Path(run_dir), shape, n)
        except VisionTKError as exc:
            reason = f"validation data unavailable: {str(exc)[:160]}"
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape), dtype=np.float32), f"{n} random images ({reason})"


def _validation_images(run_dir: Path, shape, n: int):
    from visiontk.data.make import make_source
    from visiontk.data.pipeline import source_dataset
    from visiontk.recipe import load_recipe

    recipe = load_recipe(run_dir / "recipe.yaml")
    source = make_source(recipe)
    split = next(s for s in ("val", "test", "train") if s in source.splits())
    data = source.load(split)
    ds = source_dataset(data, input_shape=shape, resize=recipe.data.resize, keys=())
    images = np.stack([img.numpy() for img, _ in ds.take(n)]).astype(np.float32)
    return images, f"first {len(images)} images of the '{split}' split of {recipe.data.source}"


def output_parity(ref: dict, got: dict) -> dict:
    """{output name: {max_abs, max_rel}}; max_rel is max|diff| / max|reference|."""
    out = {}
    for name, r in ref.items():
        r = np.asarray(r, np.float64)
        g = np.asarray(got[name], np.float64) if name in got else None
        if g is None or g.shape != r.shape:
            out[name] = {"error": f"shape {None if g is None else list(g.shape)} != {list(r.shape)}"}
            continue
        diff = float(np.max(np.abs(g - r))) if r.size else 0.0
        scale = float(np.max(np.abs(r))) if r.size else 0.0
        out[name] = {"max_abs": diff, "max_rel": diff / scale if scale > 0 else diff,
                     "reference_max_abs": scale}
    return out


def within(stats: dict, tolerance: float) -> bool:
    """Absolute tolerance for outputs of magnitude <= 1, relative above (float32 rounding scales)."""
    return all("error" not in s and s["max_abs"] <= tolerance * max(1.0, s["reference_max_abs"])
               for s in stats.values())


def prediction_mismatches(ref: list, got: list, sizes: list) -> list[str]:
    """Readable differences between two lists of decoded Predictions ([] when they agree): each
    task's Prediction type says what differs (its `mismatches`, within decode tolerance)."""
    if len(ref) != len(got):
        return [f"{len(got)} predictions instead of {len(ref)}"]
    return [f"image {i}: {problem}" for i, (a, b, size) in enumerate(zip(ref, got, sizes))
            for problem in a.mismatches(b, size)]


def verify(reference: dict, runners: dict[str, Callable], batch: np.ndarray, metadata: dict,
           task, tolerance: float) -> dict:
    """Run every format on `batch`, compare with `reference` ({name: array} of Keras).

    Returns parity.json's content: per format the per-output differences, the decoded comparison and
    `passed`; `passed` at the top is True when every format passed.

    Example:
        >>> verify(ref, {"onnx": load_onnx(p)}, x, metadata, Classification, 1e-4)["passed"]  # doctest: +SKIP
        True
    """
    from visiontk.runtime.outputs import restructure

    sizes = [tuple(batch.shape[1:3])] * len(batch)
    ref_preds = task.decode(restructure(reference, metadata), metadata, sizes)
    report = {}
    for fmt, run in runners.items():
        got = run(batch)
        stats = output_parity(reference, got)
        mismatches = prediction_mismatches(ref_preds, task.decode(restructure(got, metadata),
                                                                  metadata, sizes), sizes)
        ok = within(stats, tolerance) and not mismatches
        report[fmt] = {"passed": ok,
                       "max_abs": max((s.get("max_abs", float("inf")) for s in stats.values()),
                                      default=0.0),
                       "outputs": stats,
                       "predictions": "identical" if not mismatches else mismatches[:20]}
    return {"passed": all(r["passed"] for r in report.values()), "tolerance": tolerance,
            "reference": "Keras float32 model(x, training=False)", "formats": report}


def failure_summary(parity: dict) -> str:
    """One line naming each failing format and why."""
    parts = []
    for fmt, r in parity["formats"].items():
        if r["passed"]:
            continue
        worst = max(r["outputs"].items(), key=lambda kv: kv[1].get("max_abs", float("inf")))
        why = f"output '{worst[0]}' max |diff| {worst[1].get('max_abs', worst[1].get('error'))}"
        if r["predictions"] != "identical":
            why += f", decoded: {r['predictions'][0]}"
        parts.append(f"{fmt} ({why})")
    return "; ".join(parts)
