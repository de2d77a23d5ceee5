"""Classification: probabilities -> label, score and top-k; overlay of the top classes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .draw import draw_top_k
from .predictions import Prediction, close


@dataclass
class ClassificationPrediction(Prediction):
    """The best class (`label` its index, `name`), its probability and the top-k, best first."""

    task: ClassVar[str] = "classification"
    label: int
    name: str
    score: float
    top: list = field(default_factory=list)          # [(name, probability)], best first

    def json_fields(self) -> dict:
        return {"label": self.name, "label_id": int(self.label), "score": round(float(self.score), 6),
                "top": [[n, round(float(p), 6)] for n, p in self.top]}

    def differences(self, other, size) -> list[str]:
        problems = []
        if self.label != other.label:
            problems.append(f"class {other.name!r} instead of {self.name!r}")
        if not close(self.score, other.score):
            problems.append(f"score {other.score} instead of {self.score}")
        return problems


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
        preds.append(ClassificationPrediction(label=i, name=top[0][0], score=float(p[i]), top=top))
    return preds


def draw(frame: np.ndarray, prediction, meta: dict) -> np.ndarray:
    return draw_top_k(frame, prediction.top)
