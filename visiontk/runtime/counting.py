"""Counting: regressed counts -> Prediction.count (total; per class in extra["counts"]);
overlay = "count: N" in the top-left corner (N rounded, the raw value beside it).

meta["decode"]: {"per_class": bool}. Outputs are (B, 1) totals or (B, K) per-class counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .draw import label
from .predictions import VALUE_TOL, Prediction, close


@dataclass
class CountingPrediction(Prediction):
    """The total count (not rounded); per class in extra["counts"] with `per_class`."""

    task: ClassVar[str] = "counting"
    count: float

    def json_fields(self) -> dict:
        return {"count": round(float(self.count), 4)}

    def differences(self, other, size) -> list[str]:
        if close(self.count, other.count, VALUE_TOL * max(1.0, abs(self.count))):
            return []
        return [f"count {other.count} instead of {self.count}"]


def decode(outputs, meta: dict, sizes=None) -> list:
    values = np.asarray(outputs[0] if isinstance(outputs, (list, tuple)) else outputs, np.float64)
    values = np.maximum(values.reshape(len(values), -1), 0.0)     # a count is never negative
    names = meta.get("class_names", [])
    per_class = bool(meta.get("decode", {}).get("per_class", False))
    preds = []
    for v in values:
        extra = {}
        if per_class:
            extra["counts"] = {(names[i] if i < len(names) else str(i)): round(float(c), 4)
                               for i, c in enumerate(v)}
        preds.append(CountingPrediction(count=float(v.sum()), extra=extra))
    return preds


def draw(frame: np.ndarray, prediction, meta: dict) -> np.ndarray:
    c = float(prediction.count)
    text = f"count: {int(round(c))} ({c:.2f})"
    counts = prediction.extra.get("counts")
    if counts:
        text += "  " + ", ".join(f"{k} {int(round(v))}" for k, v in counts.items())
    return label(frame, text, (4, 4), scale=None)
