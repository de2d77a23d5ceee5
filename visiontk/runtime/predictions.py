"""What every backend's decode returns: plain dataclasses, numpy only (no TensorFlow)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np


@dataclass
class Box:
    """A box in pixels of the original image (x1, y1 top-left; x2, y2 bottom-right)."""

    x1: float
    y1: float
    x2: float
    y2: float
    cls: int
    score: float
    name: str = ""

    def to_dict(self) -> dict:
        return {"class": self.name, "class_id": int(self.cls), "score": round(float(self.score), 6),
                "x1": round(float(self.x1), 2), "y1": round(float(self.y1), 2),
                "x2": round(float(self.x2), 2), "y2": round(float(self.y2), 2)}


@dataclass
class Prediction:
    """One image's decoded output; the fields a task does not produce stay None / empty."""

    task: str
    label: Optional[int] = None
    name: Optional[str] = None
    score: Optional[float] = None
    top: list = field(default_factory=list)          # [(name, probability)], best first
    count: Optional[float] = None
    boxes: list = field(default_factory=list)        # [Box]
    mask: Optional[np.ndarray] = None                # (H, W) int class map, original size
    image: Optional[np.ndarray] = None               # (H, W, C) uint8 RGB (e.g. denoised)
    embedding: Optional[np.ndarray] = None
    identity: Optional[str] = None
    distance: Optional[float] = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (arrays are summarised, not dumped)."""
        out: dict[str, Any] = {"task": self.task}
        if self.label is not None:
            out.update(label=self.name, label_id=int(self.label), score=round(float(self.score), 6),
                       top=[[n, round(float(p), 6)] for n, p in self.top])
        if self.count is not None:
            out["count"] = round(float(self.count), 4)
        if self.boxes:
            out["boxes"] = [b.to_dict() for b in self.boxes]
        elif self.task in ("detection", "localization"):
            out["boxes"] = []
        if self.mask is not None:
            ids, counts = np.unique(self.mask, return_counts=True)
            out["mask_pixels"] = {int(i): int(c) for i, c in zip(ids, counts)}
        if self.embedding is not None:
            out["embedding"] = [round(float(v), 6) for v in np.ravel(self.embedding)]
        if self.identity is not None:
            out.update(identity=self.identity, distance=round(float(self.distance), 6))
        out.update(self.extra)
        return out
