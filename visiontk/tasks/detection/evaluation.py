"""Detection metrics through pycocotools' COCOeval: mAP@[.5:.95], mAP@0.5, mAP@0.75, AP@0.5 per
class, plus precision and recall at the decode threshold (IoU 0.5); a PNG of sample detections.

Boxes are compared in pixels of the model input (ground truth and predictions alike), so the
figures do not depend on the original image sizes.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from visiontk.runtime.boxes import iou_matrix


def gt_to_pixels(boxes: np.ndarray, classes: np.ndarray, size) -> tuple[np.ndarray, np.ndarray]:
    """Padded normalised ground truth of one image -> (boxes in pixels (K, 4), classes (K,))."""
    classes = np.asarray(classes).reshape(-1)
    keep = classes >= 0
    h, w = size
    return np.asarray(boxes, np.float64).reshape(-1, 4)[keep] * [w, h, w, h], classes[keep].astype(int)


def coco_dicts(gts: list, preds: list, sizes: list, class_names: list):
    """COCO-format ground truth (a dataset dict) and detections (a list) for COCOeval.

    Args:
        gts: per image (boxes (K, 4) pixels x1, y1, x2, y2, classes (K,)).
        preds: per image a list of runtime Box (pixels).
        sizes: per image (h, w).
    """
    images, anns, dets = [], [], []
    for i, ((boxes, classes), found, (h, w)) in enumerate(zip(gts, preds, sizes)):
        images.append({"id": i + 1, "width": int(w), "height": int(h)})
        for b, c in zip(boxes, classes):
            bw, bh = float(b[2] - b[0]), float(b[3] - b[1])
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(c) + 1,
                         "bbox": [float(b[0]), float(b[1]), bw, bh], "area": bw * bh, "iscrowd": 0})
        for box in found:
            dets.append({"image_id": i + 1, "category_id": int(box.cls) + 1, "score": float(box.score),
                         "bbox": [box.x1, box.y1, box.x2 - box.x1, box.y2 - box.y1]})
    cats = [{"id": k + 1, "name": n} for k, n in enumerate(class_names)]
    return {"images": images, "annotations": anns, "categories": cats}, dets


def coco_map(gt_dataset: dict, detections: list) -> dict:
    """COCOeval on in-memory dicts (pycocotools' own printing silenced).

    Returns:
        map (@[.5:.95]), map50, map75 and ap50_per_class {category name: AP@0.5}.

    Example:
        >>> gt = {"images": [{"id": 1, "width": 10, "height": 10}], "categories": [{"id": 1, "name": "a"}],
        ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4],
        ...                        "area": 16, "iscrowd": 0}]}
        >>> coco_map(gt, [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4], "score": 0.9}])["map50"]
        1.0
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    names = {c["id"]: c["name"] for c in gt_dataset["categories"]}
    if not detections or not gt_dataset["annotations"]:
        return {"map": 0.0, "map50": 0.0, "map75": 0.0, "ap50_per_class": {n: 0.0 for n in names.values()}}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_dataset
        gt.createIndex()
        dt = gt.loadRes(detections)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    # precision: [IoU thresholds, recall points, categories, area ranges, max dets]
    prec = ev.eval["precision"][0, :, :, 0, -1]
    per_class = {}
    for k, cat in enumerate(ev.params.catIds):
        p = prec[:, k]
        per_class[names[cat]] = float(p[p > -1].mean()) if (p > -1).any() else 0.0
    return {"map": max(0.0, float(ev.stats[0])), "map50": max(0.0, float(ev.stats[1])),
            "map75": max(0.0, float(ev.stats[2])), "ap50_per_class": per_class}


def precision_recall(gts: list, preds: list, score_threshold: float, iou: float = 0.5) -> dict:
    """Greedy matching (best score first, same class, IoU >= `iou`) of boxes scoring at least
    `score_threshold`: precision, recall and F1 at that operating point."""
    tp = fp = total = 0
    for (boxes, classes), found in zip(gts, preds):
        found = sorted((b for b in found if b.score >= score_threshold), key=lambda b: -b.score)
        total += len(classes)
        used = np.zeros(len(classes), bool)
        if not found:
            continue
        ious = iou_matrix(np.array([[b.x1, b.y1, b.x2, b.y2] for b in found]), boxes)
        for j, b in enumerate(found):
            cand = np.flatnonzero((classes == b.cls) & ~used & (ious[j] >= iou))
            if cand.size:
                used[cand[np.argmax(ious[j, cand])]] = True
                tp += 1
            else:
                fp += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / total if total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "score_threshold": score_threshold}


def collect(predict_fn, batches, meta: dict, score_threshold: float):
    """Run the model over unencoded (images, annotations) batches; decode at `score_threshold`.

    Returns:
        (gts, preds, sizes, images) with images kept for the first 16 only (for the PNG).
    """
    from visiontk.runtime.detection import decode

    size = tuple(meta["input"]["shape"][:2])
    gts, preds, sizes, samples = [], [], [], []
    for images, ann in batches:
        out = predict_fn(images)
        preds += decode(out, meta, [size] * len(images), score_threshold=score_threshold)
        for b, c in zip(ann["boxes"], ann["classes"]):
            gts.append(gt_to_pixels(b, c, size))
            sizes.append(size)
        if len(samples) < 16:
            samples += list(np.asarray(images)[:16 - len(samples)])
    return gts, preds, sizes, samples


def detection_report(predict_fn, batches, meta: dict, eval_threshold: float, out_dir=None) -> dict:
    """mAP (COCOeval) + precision/recall at the decode threshold; detections.png in `out_dir`."""
    from visiontk.progress import progress

    gts, preds, sizes, samples = collect(predict_fn, progress(batches, "evaluating"), meta,
                                         eval_threshold)
    gt_ds, dets = coco_dicts(gts, [p.boxes for p in preds], sizes, meta["class_names"])
    out = coco_map(gt_ds, dets)
    at = precision_recall(gts, [p.boxes for p in preds], meta["decode"]["score_threshold"])
    out.update(at)
    out["images"] = len(gts)
    out["objects"] = int(sum(len(c) for _, c in gts))
    if out_dir is not None and samples:
        out["detections_png"] = str(draw_samples(samples, preds[:len(samples)], gts, meta,
                                                 Path(out_dir) / "detections.png"))
    return out


def draw_samples(images, preds, gts, meta, path: Path, cols: int = 4) -> Path:
    """A grid of images: ground truth in thin white, detections above the decode threshold."""
    import cv2

    from visiontk.io import atomic_path
    from visiontk.runtime.detection import DetectionPrediction, draw

    threshold = meta["decode"].get("score_threshold", 0.0)
    tiles = []
    for img, pred, (boxes, _) in zip(images, preds, gts):
        frame = (np.clip(img, 0, 1) * 255).astype(np.uint8)
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR if frame.shape[-1] == 1 else cv2.COLOR_RGB2BGR)
        frame = cv2.resize(frame, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
        for b in boxes:
            cv2.rectangle(frame, tuple(int(v * 2) for v in b[:2]), tuple(int(v * 2) for v in b[2:]),
                          (255, 255, 255), 1)
        shown = DetectionPrediction(boxes=[
            type(b)(b.x1 * 2, b.y1 * 2, b.x2 * 2, b.y2 * 2, b.cls, b.score, b.name)
            for b in pred.boxes if b.score >= threshold])
        tiles.append(draw(frame, shown, meta))
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i:i + cols], 1) for i in range(0, len(tiles), cols)]
    with atomic_path(path) as tmp:
        cv2.imwrite(str(tmp), np.concatenate(rows, 0))
    return path
