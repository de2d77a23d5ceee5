"""Classification: probabilities -> label, score and top-k; overlay of the top classes."""

from __future__ import annotations

import numpy as np

from .draw import draw_top_k
from .predictions import Prediction


def top_k(probs: np.ndarray, names: list, k: int) -> list:
    order = np.argsort(-probs)[:k]
    return [(names[i] if i < len(names) else str(i), float(probs[i])) for i in order]


def decode(outputs, meta: dict, sizes=None) -> list:
    probs = np.asarray(outputs[0] if isinstance(outputs, (list, tuple)) else outputs)
    names = meta.get("class_names", [])
    k = meta.get("decode", {}).get("top_k", 3)
    preds = []
    for p in probs.reshape(len(probs), -1):
        top = top_k(p, names, k)
        i = int(np.argmax(p))
        preds.append(Prediction("classification", label=i, name=top[0][0], score=float(p[i]), top=top))
    return preds


def draw(frame: np.ndarray, prediction, meta: dict) -> np.ndarray:
    return draw_top_k(frame, prediction.top)
