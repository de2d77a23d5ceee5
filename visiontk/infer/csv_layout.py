"""The columns of `visiontk predict --format csv`: one flat row per image (per box for detection),
from the same values as the JSON lines (each task's `Prediction.to_dict()`).

Every file starts with `image` (the image, or the video a frame is from) and `frame` (the video
frame's index; empty for an image). Then, per task:

- classification: label, label_id, score, top1, top1_score, ... topK, topK_score
  (K = the model's top_k);
- localization: the classification columns, then the box: x1, y1, x2, y2;
- detection: count, box (its index in the image), class, class_id, score, x1, y1, x2, y2: one row
  per box, and one row with count 0 and empty box columns for an image without boxes;
- segmentation: foreground_fraction, pixels_background, pixels_<class> for each class;
- any other task (counting, denoising, metric, a task of your own): the first prediction's JSON
  flattened: numbers and strings as they are, a dict's entries as <key>_<entry> (counts_circle), a
  list of numbers as <key>_<i> (embedding_0, ...), anything else as JSON text.

Boxes are in pixels of the original image (x1, y1 top-left; x2, y2 bottom-right).
"""

from __future__ import annotations

import json

PREFIX = ["image", "frame"]
BOX = ["x1", "y1", "x2", "y2"]
SKIP = {"task", "image", "video", "frame"}


def _top_k(meta: dict) -> int:
    k = int(meta.get("decode", {}).get("top_k", 3))
    names = meta.get("class_names") or []
    return min(k, len(names)) if names else k


def _classification_columns(meta: dict, first: dict) -> list:
    tops = [c for i in range(1, _top_k(meta) + 1) for c in (f"top{i}", f"top{i}_score")]
    return ["label", "label_id", "score", *tops]


def _classification_rows(d: dict) -> list:
    row = {k: d.get(k) for k in ("label", "label_id", "score")}
    for i, (name, p) in enumerate(d.get("top", []), 1):
        row[f"top{i}"], row[f"top{i}_score"] = name, p
    return [row]


def _localization_rows(d: dict) -> list:
    [row] = _classification_rows(d)
    box = (d.get("boxes") or [{}])[0]
    return [{**row, **{k: box.get(k) for k in BOX}}]


def _detection_rows(d: dict) -> list:
    boxes = d.get("boxes") or []
    if not boxes:
        return [{"count": 0}]
    return [{"count": len(boxes), "box": j, "class": b["class"], "class_id": b["class_id"],
             "score": b["score"], **{k: b[k] for k in BOX}} for j, b in enumerate(boxes)]


def _segmentation_columns(meta: dict, first: dict) -> list:
    names = meta.get("class_names") or []
    return ["foreground_fraction", "pixels_background", *(f"pixels_{n}" for n in names)]


def _segmentation_rows_for(meta: dict):
    names = ["background", *(meta.get("class_names") or [])]

    def rows(d: dict) -> list:
        row = {"foreground_fraction": d.get("foreground_fraction")}
        for cid, n in (d.get("mask_pixels") or {}).items():
            i = int(cid)
            row[f"pixels_{names[i] if i < len(names) else i}"] = n
        return [row]

    return rows


def flatten(d: dict) -> dict:
    """A prediction's JSON as flat columns (see the module docstring)."""
    row: dict = {}
    for key, value in d.items():
        if key in SKIP:
            continue
        if isinstance(value, dict):
            row.update({f"{key}_{k}": v if _scalar(v) else json.dumps(v) for k, v in value.items()})
        elif isinstance(value, list) and all(_scalar(v) for v in value):
            row.update({f"{key}_{i}": v for i, v in enumerate(value)})
        else:
            row[key] = value if _scalar(value) else json.dumps(value)
    return row


def _scalar(v) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def layout(meta: dict, first: dict):
    """(columns, rows) for a model: `columns` the header, `rows(prediction dict)` its CSV rows
    (dicts without the image / frame prefix). `first` is the first prediction's dict (the columns
    of a task without its own layout come from it)."""
    task = meta.get("task")
    if task == "classification":
        return PREFIX + _classification_columns(meta, first), _classification_rows
    if task == "localization":
        return PREFIX + _classification_columns(meta, first) + BOX, _localization_rows
    if task == "detection":
        return PREFIX + ["count", "box", "class", "class_id", "score", *BOX], _detection_rows
    if task == "segmentation":
        return PREFIX + _segmentation_columns(meta, first), _segmentation_rows_for(meta)
    return PREFIX + list(flatten(first)), lambda d: [flatten(d)]
