"""Detection metrics through pycocotools' COCOeval: COCO's full breakdown (AP@[.5:.95], AP@0.5,
AP@0.75, AP and AR by object size, AR at 1 / 10 / 100 detections), AP per class, precision and
recall at the decode threshold (IoU 0.5), a detection confusion matrix with a background row and
column; PNGs of sample detections, the precision-recall curves and the confusion matrix.

Boxes are compared in pixels of the model input (ground truth and predictions alike), so the
figures do not depend on the original image sizes. COCO's size ranges (small: area < 32², medium:
32² to 96², large: > 96²) are therefore in model-input pixels too: on a 128 x 128 input a large
object covers more than 56 % of the image, and on inputs smaller than 96 x 96 there is none.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from visiontk.runtime.boxes import iou_matrix
# draw_samples lives in plots.py; localization imports it from here
from visiontk.tasks.detection.plots import draw_samples, plot_detection_confusion, plot_pr_curves

# COCOeval.stats, in its order (summarize()'s twelve lines)
COCO_STATS = ("map", "map50", "map75", "map_small", "map_medium", "map_large",
              "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large")
ALWAYS_NUMBERS = ("map", "map50", "map75")     # they drive checkpoints and early stopping
CONFUSION_IOU = 0.5


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


def coco_eval(gt_dataset: dict, detections: list):
    """pycocotools' COCOeval of `detections` against `gt_dataset`, evaluated, accumulated and
    summarized (its printing silenced); None when the ground truth holds no object at all."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not gt_dataset["annotations"]:
        return None
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_dataset
        gt.createIndex()
        if detections:
            dt = gt.loadRes(detections)
        else:                   # loadRes refuses an empty list; no detections: AP 0 where objects are
            dt = COCO()
            dt.dataset = {**gt_dataset, "annotations": []}
            dt.createIndex()
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def coco_map(gt_dataset: dict, detections: list) -> dict:
    """COCO's breakdown of `detections` on in-memory dicts (see coco_summary); no plots, so cheap
    enough for the validation callback.

    Example:
        >>> gt = {"images": [{"id": 1, "width": 10, "height": 10}], "categories": [{"id": 1, "name": "a"}],
        ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4],
        ...                        "area": 16, "iscrowd": 0}]}
        >>> m = coco_map(gt, [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4], "score": 0.9}])
        >>> round(m["map50"], 6), round(m["map_small"], 6), m["map_large"]      # 1 - 1e-16: COCO's eps
        (1.0, 1.0, None)
    """
    return coco_summary(coco_eval(gt_dataset, detections),
                        [c["name"] for c in gt_dataset["categories"]])


def coco_summary(ev, class_names: list) -> dict:
    """The figures of a COCOeval (None: no ground truth at all).

    Returns:
        map (AP@[.5:.95]), map50, map75, map_small, map_medium, map_large, ar1, ar10, ar100,
        ar_small, ar_medium, ar_large (COCOeval.stats: AP at all sizes and 100 detections per
        image unless named; AR averaged over IoU .5:.95), ar50 (the share of objects found at IoU
        0.5 with up to 100 detections per image, averaged over classes: the recall a detector
        reaches at any score threshold), then ap_per_class {class name:
        AP@[.5:.95]} and ap50_per_class {class name: AP@0.5}. Where COCO has nothing to measure
        (its -1: no object of that size, or of that class) the figure is None (null in JSON), not
        0; map, map50 and map75 alone are 0.0 when there is no object at all, as checkpoints and
        early stopping need a number. Sizes are areas in model-input pixels: small < 32², medium
        32² to 96², large > 96².
    """
    if ev is None:
        out = {k: 0.0 if k in ALWAYS_NUMBERS else None for k in COCO_STATS}
        return {**out, "ar50": None, "ap_per_class": dict.fromkeys(class_names),
                "ap50_per_class": dict.fromkeys(class_names)}
    out = {k: (max(0.0, float(v)) if k in ALWAYS_NUMBERS else _measured(v))
           for k, v in zip(COCO_STATS, ev.stats)}
    # precision: [IoU thresholds, recall points, categories, area ranges, max dets]; all sizes, 100
    prec = ev.eval["precision"][:, :, :, 0, -1]
    # recall: [IoU thresholds, categories, area ranges, max dets]
    out["ar50"] = _mean_measured(ev.eval["recall"][0, :, 0, -1])
    names = {c["id"]: c["name"] for c in ev.cocoGt.dataset["categories"]}
    cats = [names[c] for c in ev.params.catIds]
    out["ap_per_class"] = {n: _mean_measured(prec[:, :, k]) for k, n in enumerate(cats)}
    out["ap50_per_class"] = {n: _mean_measured(prec[0, :, k]) for k, n in enumerate(cats)}
    return out


def _measured(value) -> float | None:
    """COCO's -1 (nothing to measure) as None."""
    return None if value < 0 else float(value)


def _mean_measured(values: np.ndarray) -> float | None:
    kept = values[values > -1]
    return float(kept.mean()) if kept.size else None


def pr_curves(ev, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """COCO's precision-recall curves at IoU 0.5 (all sizes, 100 detections per image).

    Returns:
        recall (101,) 0 to 1, and precision (101, C), interpolated as COCO does (the best precision
        at this recall or more); a column of -1 is a class without ground truth.
    """
    if ev is None:
        return np.linspace(0, 1, 101), -np.ones((101, num_classes))
    return np.asarray(ev.params.recThrs), ev.eval["precision"][0, :, :, 0, -1]


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


def collect(predict_fn, batches, meta: dict, score_threshold: float, multi_label: bool = False,
            operating_threshold: float | None = None):
    """Run the model over unencoded (images, annotations) batches; decode at `score_threshold`
    (with `multi_label`, a box once per class that reaches it).

    Returns:
        (gts, preds, sizes, images, operating): images kept for the first 16 only (for the PNG);
        operating, with `operating_threshold`, the boxes as `predict` gives them at that threshold
        (one class per box), decoded from the same outputs (else empty).
    """
    from visiontk.runtime.detection import decode

    size = tuple(meta["input"]["shape"][:2])
    gts, preds, sizes, samples, operating = [], [], [], [], []
    for images, ann in batches:
        out = predict_fn(images)
        shapes = [size] * len(images)
        preds += decode(out, meta, shapes, score_threshold=score_threshold, multi_label=multi_label)
        if operating_threshold is not None:
            operating += decode(out, meta, shapes, score_threshold=operating_threshold,
                                multi_label=False)
        for b, c in zip(ann["boxes"], ann["classes"]):
            gts.append(gt_to_pixels(b, c, size))
            sizes.append(size)
        if len(samples) < 16:
            samples += list(np.asarray(images)[:16 - len(samples)])
    return gts, preds, sizes, samples, operating


def detection_confusion(gts: list, dets: list, num_classes: int, iou: float = CONFUSION_IOU) -> np.ndarray:
    """The detection confusion matrix with a background row and column (as Ultralytics').

    Per image, detections and ground-truth boxes are paired one to one whatever their classes,
    greedily by IoU (highest first, IoU >= `iou`): a pair counts at (true class, detected class), a
    ground-truth box left alone at (its class, background), a detection left alone at
    (background, its class).

    Args:
        gts: per image (boxes (K, 4), classes (K,)).
        dets: per image (boxes (N, 4), classes (N,)): the detections to count (those above the
            decode threshold), in the same coordinates.
        num_classes: C.

    Returns:
        (C + 1, C + 1) counts, rows the ground truth, columns the detections, index C background
        (the background x background corner stays 0).

    Example:
        >>> truth = [(np.array([[0, 0, 10, 10.]]), np.array([1]))]
        >>> detection_confusion(truth, [(np.array([[0, 0, 10, 9.]]), np.array([0]))], 2).tolist()
        [[0, 0, 0], [1, 0, 0], [0, 0, 0]]
    """
    cm = np.zeros((num_classes + 1, num_classes + 1), np.int64)
    for (g_boxes, g_cls), (d_boxes, d_cls) in zip(gts, dets):
        g_cls, d_cls = np.asarray(g_cls, int).reshape(-1), np.asarray(d_cls, int).reshape(-1)
        g, d = match_by_iou(iou_matrix(g_boxes, d_boxes), iou)
        np.add.at(cm, (g_cls[g], d_cls[d]), 1)
        np.add.at(cm, (np.delete(g_cls, g), num_classes), 1)
        np.add.at(cm, (num_classes, np.delete(d_cls, d)), 1)
    return cm


def recall_any_class(counts: np.ndarray) -> float | None:
    """The share of objects paired with a detection in `detection_confusion`'s counts, whatever
    class it was given: where objects are found at all, apart from naming them right (None when
    there is no object).

    Example:
        >>> round(recall_any_class(np.array([[1, 0, 0], [1, 0, 1], [0, 2, 0]])), 3)
        0.667
    """
    objects = int(counts[:-1].sum())
    return None if objects == 0 else 1.0 - float(counts[:-1, -1].sum()) / objects


def match_by_iou(ious: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one pairs of rows and columns of `ious`, highest IoU first, IoU >= `threshold`.

    Example:
        >>> match_by_iou(np.array([[0.9, 0.6], [0.8, 0.1]]), 0.5)
        (array([0]), array([0]))
    """
    pairs = np.argwhere(ious >= threshold)
    pairs = pairs[np.argsort(-ious[pairs[:, 0], pairs[:, 1]], kind="stable")]
    rows, cols = [], []
    for r, c in pairs:
        if r not in rows and c not in cols:
            rows.append(r)
            cols.append(c)
    return np.array(rows, int), np.array(cols, int)


def box_arrays(found: list) -> tuple[np.ndarray, np.ndarray]:
    """Runtime Boxes -> (boxes (N, 4) x1, y1, x2, y2, classes (N,))."""
    return (np.array([[b.x1, b.y1, b.x2, b.y2] for b in found], np.float64).reshape(-1, 4),
            np.array([b.cls for b in found], int))


def detection_report(predict_fn, batches, meta: dict, eval_threshold: float, out_dir=None,
                     multi_label: bool = True) -> dict:
    """COCO's breakdown (coco_summary) over boxes decoded at `eval_threshold` (with `multi_label`,
    once per class reaching it), precision / recall / F1 and the confusion matrix at the decode
    threshold (one class per box, as `predict` gives them); with `out_dir`, detections.png,
    pr_curve.png and confusion_matrix.png in it.

    Returns:
        coco_summary's figures, precision, recall, f1, recall_any_class, score_threshold, images,
        objects, confusion_matrix {"labels": class names + "background", "counts": rows of ground truth,
        columns of detections, "iou", "score_threshold"}, and the PNGs' paths (detections_png,
        pr_curve_png, confusion_matrix_png).
    """
    from visiontk.progress import progress

    names, threshold = list(meta["class_names"]), meta["decode"]["score_threshold"]
    gts, preds, sizes, samples, operating = collect(
        predict_fn, progress(batches, "evaluating"), meta, eval_threshold, multi_label, threshold)
    found = [p.boxes for p in preds]
    ev = coco_eval(*coco_dicts(gts, found, sizes, names))
    out = coco_summary(ev, names)
    given = [p.boxes for p in operating]
    out.update(precision_recall(gts, given, threshold))
    out["images"] = len(gts)
    out["objects"] = int(sum(len(c) for _, c in gts))
    kept = [box_arrays(f) for f in given]
    counts = detection_confusion(gts, kept, len(names))
    labels = [*names, "background"]
    out["recall_any_class"] = recall_any_class(counts)
    out["confusion_matrix"] = {"labels": labels, "counts": counts.tolist(), "iou": CONFUSION_IOU,
                               "score_threshold": threshold}
    if out_dir is not None:
        out_dir = Path(out_dir)
        if samples:
            out["detections_png"] = str(draw_samples(samples, operating[:len(samples)], gts, meta,
                                                     out_dir / "detections.png"))
        out["pr_curve_png"] = str(plot_pr_curves(*pr_curves(ev, len(names)), names,
                                                 out_dir / "pr_curve.png"))
        out["confusion_matrix_png"] = str(plot_detection_confusion(counts, labels,
                                                                   out_dir / "confusion_matrix.png"))
    return out
