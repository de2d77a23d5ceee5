"""What every backend's decode returns: one Prediction per image, numpy only (no TensorFlow).

`Prediction` is the base; each task's runtime module (runtime/<task>.py) defines its own subclass
with the fields it decodes, its JSON (`to_dict`, printed by `visiontk predict` and
export/onnx_predict.py) and its parity comparison (`mismatches`, used by the export verification),
so nothing here or in the verifier names a task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

BOX_TOL = 1e-3         # decoded boxes: fraction of the image size
VALUE_TOL = 1e-3       # decoded scores, counts, embeddings, distances (relative past 1)


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
    """One image's decoded output. Subclasses (one per task, in its runtime module) set `task` and
    add their fields, `json_fields` (their JSON) and `differences` (their parity comparison); `extra`
    holds further JSON values of the task (e.g. per-class counts), compared within VALUE_TOL."""

    task: ClassVar[str] = ""
    extra: dict = field(default_factory=dict, kw_only=True)

    def json_fields(self) -> dict[str, Any]:
        """The task's own JSON fields, in the order printed (arrays summarised, not dumped)."""
        return {}

    def differences(self, other: "Prediction", size: tuple[int, int]) -> list[str]:
        """What differs in `other` (the same image decoded from another format) from this one,
        beyond decode tolerance; `size` is the image's (h, w) in pixels."""
        return []

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: {"task": ..., the task's fields, then `extra`}."""
        return {"task": self.task, **self.json_fields(), **self.extra}

    def mismatches(self, other: "Prediction", size: tuple[int, int]) -> list[str]:
        """Readable differences of `other` from this reference prediction ([] when they agree)."""
        if type(other) is not type(self):
            return [f"a {other.task or type(other).__name__} prediction instead of a {self.task} one"]
        problems = self.differences(other, size)
        for key, value in self.extra.items():
            got = other.extra.get(key)
            if not similar(value, got):
                problems.append(f"{key} {got!r} instead of {value!r}")
        return problems


def close(a, b, tol: float = VALUE_TOL) -> bool:
    """Both None, or numbers / arrays of one shape within `tol` everywhere."""
    if a is None or b is None:
        return a is b
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= tol))


def similar(a, b) -> bool:
    """Equal, or numbers (also inside dicts / lists / arrays) within VALUE_TOL (relative past 1)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(similar(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(similar(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return close(a, b)
    if isinstance(a, (int, float, np.number)) and isinstance(b, (int, float, np.number)):
        return abs(float(a) - float(b)) <= VALUE_TOL * max(1.0, abs(float(a)))
    return a == b


def box_differences(ref: list, got: list, size: tuple[int, int]) -> list[str]:
    """Boxes of `ref` that `got` lacks: same class, corners within BOX_TOL of the image size. Boxes
    are compared rank by rank, except that boxes whose scores tie (within VALUE_TOL) may come in
    either order: float noise decides such ties differently from one backend to another."""
    if len(ref) != len(got):
        return [f"{len(got)} boxes instead of {len(ref)}"]
    h, w = size
    scale = np.array([w, h, w, h], np.float64)

    def same(p, q) -> bool:
        moved = np.abs(np.array([p.x1, p.y1, p.x2, p.y2]) - np.array([q.x1, q.y1, q.x2, q.y2])) / scale
        return p.cls == q.cls and np.max(moved) <= BOX_TOL

    problems, free = [], set(range(len(got)))
    for j, p in enumerate(ref):
        match = j if j in free and same(p, got[j]) else next(
            (i for i in sorted(free) if close(p.score, ref[i].score) and same(p, got[i])), None)
        if match is None:
            problems.append(f"box {j} differs ({got[j].to_dict()} vs {p.to_dict()})")
        else:
            free.discard(match)
    return problems
