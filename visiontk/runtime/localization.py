"""Single-object localization: (N, 4 + C) outputs -> one box + class per image; overlay.

Output layout: channels 0..3 are the box as (cx, cy, w, h), the centre and size relative to the
image (all in [0, 1], sigmoid), the seed's "x, y, length, width"; channels 4.. are the class
probabilities (softmax). The box's score is its class probability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .boxes import cxcywh_to_xyxy, to_pixels
from .classification import ClassificationPrediction, top_k
from .draw import class_color, draw_box
from .predictions import Box, box_differences


@dataclass
class LocalizationPrediction(ClassificationPrediction):
    """A classification with the object's box (`boxes` holds that one Box, in pixels)."""

    task: ClassVar[str] = "localization"
    boxes: list = field(default_factory=list)

    def json_fields(self) -> dict:
        return {**super().json_fields(), "boxes": [b.to_dict() for b in self.boxes]}

    def differences(self, other, size) -> list[str]:
        return super().differences(other, size) + box_differences(self.boxes, other.boxes, size)


def decode(outputs, meta: dict, sizes=None) -> list:
    """Outputs (N, 4 + C) -> one Prediction per image (label, top-k, one Box in pixels).

    Example:
        >>> meta = {"input": {"shape": [10, 20, 3]}, "class_names": ["a", "b"], "decode": {}}
        >>> p = decode(np.array([[0.5, 0.5, 0.5, 0.2, 0.3, 0.7]]), meta)[0]
        >>> p.name, [p.boxes[0].x1, p.boxes[0].y1, p.boxes[0].x2, p.boxes[0].y2]
        ('b', [5.0, 4.0, 15.0, 6.0])
    """
    if isinstance(outputs, (list, tuple)):
        outputs = outputs[0]
    if isinstance(outputs, dict):
        outputs = next(iter(outputs.values()))
    out = np.asarray(outputs, np.float64).reshape(len(outputs), -1)
    names = meta.get("class_names", [])
    k = meta.get("decode", {}).get("top_k", 3)
    ih, iw = meta["input"]["shape"][:2]
    sizes = list(sizes) if sizes is not None else [(ih, iw)] * len(out)
    preds = []
    for row, size in zip(out, sizes):
        probs = row[4:]
        i = int(np.argmax(probs))
        name = names[i] if i < len(names) else str(i)
        px = to_pixels(cxcywh_to_xyxy(row[:4]), meta, size)[0]
        box = Box(*map(float, px), cls=i, score=float(probs[i]), name=name)
        preds.append(LocalizationPrediction(label=i, name=name, score=float(probs[i]),
                                            top=top_k(probs, names, min(k, len(probs))), boxes=[box]))
    return preds


def draw(frame: np.ndarray, prediction, meta: dict) -> np.ndarray:
    for box in prediction.boxes:
        draw_box(frame, (box.x1, box.y1, box.x2, box.y2), f"{box.name} {box.score:.2f}",
                 class_color(box.cls))
    return frame
