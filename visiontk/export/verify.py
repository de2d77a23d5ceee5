"""Verification of an export: every format against the float32 Keras model on real validation images,
raw outputs (max absolute / relative difference per output) and decoded predictions (same classes,
boxes within 1e-3 of the image size, same counts, same masks)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from visiontk.errors import VisionTKError

BOX_TOL = 1e-3         # decoded boxes: fraction of the image size
VALUE_TOL = 1e-3       # decoded scores, counts, embeddings, distances


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
    from visiontk.data.base import make_source
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


def _close(a, b, tol) -> bool:
    if a is None or b is None:
        return a is b
    return bool(np.all(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)) <= tol))


def _similar(a, b) -> bool:
    """Equal, or numbers (also inside dicts / lists) within VALUE_TOL."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_similar(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_similar(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and _close(a, b, VALUE_TOL)
    if isinstance(a, (int, float, np.number)) and isinstance(b, (int, float, np.number)):
        return abs(float(a) - float(b)) <= VALUE_TOL * max(1.0, abs(float(a)))
    return a == b


def prediction_mismatches(ref: list, got: list, sizes: list) -> list[str]:
    """Readable differences between two lists of decoded Predictions ([] when they agree)."""
    problems = []
    if len(ref) != len(got):
        return [f"{len(got)} predictions instead of {len(ref)}"]
    for i, (a, b, (h, w)) in enumerate(zip(ref, got, sizes)):
        where = f"image {i}"
        if a.label != b.label:
            problems.append(f"{where}: class {b.name!r} instead of {a.name!r}")
        if not _close(a.score, b.score, VALUE_TOL):
            problems.append(f"{where}: score {b.score} instead of {a.score}")
        if not _close(a.count, b.count, VALUE_TOL * max(1.0, abs(a.count or 0.0))):
            problems.append(f"{where}: count {b.count} instead of {a.count}")
        if len(a.boxes) != len(b.boxes):
            problems.append(f"{where}: {len(b.boxes)} boxes instead of {len(a.boxes)}")
        else:
            for j, (p, q) in enumerate(zip(a.boxes, b.boxes)):
                scale = np.array([w, h, w, h], np.float64)
                pa = np.array([p.x1, p.y1, p.x2, p.y2]) / scale
                qa = np.array([q.x1, q.y1, q.x2, q.y2]) / scale
                if p.cls != q.cls or np.max(np.abs(pa - qa)) > BOX_TOL:
                    problems.append(f"{where}: box {j} differs ({q.to_dict()} vs {p.to_dict()})")
        if (a.mask is None) != (b.mask is None) or (a.mask is not None and (
                a.mask.shape != b.mask.shape or np.any(a.mask != b.mask))):
            n = "shape" if a.mask is None or b.mask is None or a.mask.shape != b.mask.shape else \
                f"{int(np.sum(a.mask != b.mask))} pixels"
            problems.append(f"{where}: mask differs ({n})")
        if (a.image is None) != (b.image is None) or (a.image is not None and (
                a.image.shape != b.image.shape or
                np.max(np.abs(a.image.astype(np.int16) - b.image.astype(np.int16))) > 1)):
            problems.append(f"{where}: output image differs by more than 1 grey level")
        if not _close(a.embedding, b.embedding, VALUE_TOL):
            problems.append(f"{where}: embedding differs by more than {VALUE_TOL}")
        for key, value in a.extra.items():
            other = b.extra.get(key)
            if not _similar(value, other):
                problems.append(f"{where}: {key} {other!r} instead of {value!r}")
        if a.identity != b.identity or not _close(a.distance, b.distance, VALUE_TOL):
            problems.append(f"{where}: identity {b.identity!r} ({b.distance}) instead of "
                            f"{a.identity!r} ({a.distance})")
    return problems


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
