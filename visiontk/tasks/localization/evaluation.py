"""Localization metrics: mean IoU, share of boxes with IoU >= 0.5, class accuracy, both at once
(right class and IoU >= 0.5), and accuracy and mean IoU per object size (COCO's ranges of the true
box's area in model-input pixels: small < 32², medium < 96², large; -1 where a range holds no
object, as COCO reports); a PNG of sample predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visiontk.runtime.boxes import iou_matrix


def localization_report(predict_fn, batches, meta: dict, out_dir=None) -> dict:
    from visiontk.progress import progress
    from visiontk.runtime.localization import decode
    from visiontk.tasks.detection.evaluation import draw_samples

    h, w = meta["input"]["shape"][:2]
    ious, hits, areas, preds, gts, samples = [], [], [], [], [], []
    for images, ann in progress(batches, "evaluating"):
        batch_preds = decode(predict_fn(images), meta)
        true = np.asarray(ann["box"], np.float64).reshape(-1, 4) * [w, h, w, h]
        for p, t, label in zip(batch_preds, true, np.asarray(ann["label"]).reshape(-1)):
            b = p.boxes[0]
            ious.append(iou_matrix([[b.x1, b.y1, b.x2, b.y2]], t)[0, 0])
            hits.append(p.label == int(label))
            areas.append((t[2] - t[0]) * (t[3] - t[1]))
            gts.append((t[None], np.array([int(label)])))
        preds += batch_preds
        if len(samples) < 16:
            samples += list(np.asarray(images)[:16 - len(samples)])
    ious, hits = np.array(ious), np.array(hits)
    out = {"mean_iou": float(ious.mean()), "iou50": float((ious >= 0.5).mean()),
           "accuracy": float(hits.mean()), "accuracy_iou50": float(((ious >= 0.5) & hits).mean()),
           "samples": int(len(ious))}
    out.update(_by_size(ious, hits, np.array(areas)))
    if out_dir is not None and samples:
        out["predictions_png"] = str(draw_samples(samples, preds[:len(samples)], gts, meta,
                                                  Path(out_dir) / "predictions.png"))
    return out


SIZES = {"small": (0, 32 ** 2), "medium": (32 ** 2, 96 ** 2), "large": (96 ** 2, np.inf)}


def _by_size(ious, hits, areas) -> dict:
    """accuracy_<size>, mean_iou_<size>, samples_<size> for COCO's size ranges."""
    out = {}
    for name, (lo, hi) in SIZES.items():
        sel = (areas >= lo) & (areas < hi)
        n = int(sel.sum())
        out[f"accuracy_{name}"] = float(hits[sel].mean()) if n else -1.0
        out[f"mean_iou_{name}"] = float(ious[sel].mean()) if n else -1.0
        out[f"samples_{name}"] = n
    return out
