"""Localization metrics: mean IoU, share of boxes with IoU >= 0.5, class accuracy, both at once
(right class and IoU >= 0.5); a PNG of sample predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visiontk.runtime.boxes import iou_matrix


def localization_report(predict_fn, batches, meta: dict, out_dir=None) -> dict:
    from visiontk.progress import progress
    from visiontk.runtime.localization import decode
    from visiontk.tasks.detection.evaluation import draw_samples

    h, w = meta["input"]["shape"][:2]
    ious, hits, preds, gts, samples = [], [], [], [], []
    for images, ann in progress(batches, "evaluating"):
        batch_preds = decode(predict_fn(images), meta)
        true = np.asarray(ann["box"], np.float64).reshape(-1, 4) * [w, h, w, h]
        for p, t, label in zip(batch_preds, true, np.asarray(ann["label"]).reshape(-1)):
            b = p.boxes[0]
            ious.append(iou_matrix([[b.x1, b.y1, b.x2, b.y2]], t)[0, 0])
            hits.append(p.label == int(label))
            gts.append((t[None], np.array([int(label)])))
        preds += batch_preds
        if len(samples) < 16:
            samples += list(np.asarray(images)[:16 - len(samples)])
    ious, hits = np.array(ious), np.array(hits)
    out = {"mean_iou": float(ious.mean()), "iou50": float((ious >= 0.5).mean()),
           "accuracy": float(hits.mean()), "accuracy_iou50": float(((ious >= 0.5) & hits).mean()),
           "samples": int(len(ious))}
    if out_dir is not None and samples:
        out["predictions_png"] = str(draw_samples(samples, preds[:len(samples)], gts, meta,
                                                  Path(out_dir) / "predictions.png"))
    return out
