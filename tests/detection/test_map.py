"""mAP and COCO's whole breakdown through the project's evaluate path equal pycocotools called
directly; perfect predictions give 1.0 and shifted ones less; the evaluation's PNGs."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from visiontk.tasks.base import DataInfo
from visiontk.tasks.detection import Detection, DetectionHead
from tests.detection.perfect import targets_to_outputs
from visiontk.tasks.detection.encode import encode_grid

GRID, B, SIZE = 4, 2, 64
NAMES = ["circle", "square", "triangle"]


def _scenes(n=12, seed=0):
    rng = np.random.default_rng(seed)
    boxes = np.zeros((n, 3, 4), np.float32)
    classes = np.full((n, 3), -1, np.int32)
    for i in range(n):
        cells = rng.choice(GRID * GRID, size=rng.integers(1, 4), replace=False)
        for j, cell in enumerate(cells):
            cx, cy = (cell % GRID + rng.uniform(0.2, 0.8)) / GRID, (cell // GRID + rng.uniform(0.2, 0.8)) / GRID
            w, h = rng.uniform(0.08, 0.2, 2)
            boxes[i, j] = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
            classes[i, j] = rng.integers(0, 3)
    return np.clip(boxes, 0, 1), classes


def _outputs(boxes, classes, *, shift=0.0, noise_seed=None):
    t = np.stack([np.asarray(encode_grid(b, c, GRID, len(NAMES))) for b, c in zip(boxes, classes)])
    out = targets_to_outputs(t, B)
    obj = t[..., 0] > 0
    out[..., 1][obj] = np.clip(out[..., 1][obj] + shift, 0, 1)
    if noise_seed is not None:                           # varied scores + a few false alarms
        rng = np.random.default_rng(noise_seed)
        out[..., 0][obj] = rng.uniform(0.3, 1.0, obj.sum())
        out[..., 5] = rng.uniform(0, 0.4, out[..., 5].shape)
        out[..., 6:10] = rng.uniform(0.2, 0.8, out[..., 6:10].shape)
        probs = rng.dirichlet(np.ones(3), out.shape[:3])
        probs[obj] = 0.3 * probs[obj] + 0.7 * t[..., 5:][obj]
        out[..., 10:] = probs
    return out


def _evaluate(out, boxes, classes, out_dir=None, **head):
    task = Detection(DetectionHead(grid=GRID, boxes_per_cell=B, **head), DataInfo(NAMES, (SIZE, SIZE, 3)))
    batches = [(np.zeros((6, SIZE, SIZE, 3), np.float32), {"boxes": boxes[i:i + 6], "classes": classes[i:i + 6]})
               for i in range(0, len(boxes), 6)]
    outputs = iter([out[i:i + 6] for i in range(0, len(out), 6)])
    return task, task.evaluate(lambda images: next(outputs), batches, out_dir).metrics


def _direct_pycocotools(task, out, boxes, classes):
    """COCO dicts built here, independently of visiontk.tasks.detection.evaluation."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from visiontk.runtime.detection import decode

    preds = decode(out, task.eval_meta(), score_threshold=task.cfg.eval_score_threshold,
                   multi_label=task.cfg.eval_multi_label)
    gt = {"images": [], "annotations": [], "categories": [{"id": k + 10, "name": n} for k, n in enumerate(NAMES)]}
    dets = []
    for i, (b, c, p) in enumerate(zip(boxes, classes, preds)):
        gt["images"].append({"id": 100 + i, "width": SIZE, "height": SIZE})
        for box, cls in zip(b[c >= 0] * SIZE, c[c >= 0]):
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": 100 + i,
                                      "category_id": int(cls) + 10, "iscrowd": 0,
                                      "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]),
                                               float(box[3] - box[1])],
                                      "area": float((box[2] - box[0]) * (box[3] - box[1]))})
        dets += [{"image_id": 100 + i, "category_id": bx.cls + 10, "score": bx.score,
                  "bbox": [bx.x1, bx.y1, bx.x2 - bx.x1, bx.y2 - bx.y1]} for bx in p.boxes]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


STATS = ("map", "map50", "map75", "map_small", "map_medium", "map_large",     # summarize()'s order
         "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large")


@pytest.mark.parametrize("multi_label", [True, False])
@pytest.mark.parametrize("shift,noise", [(0.0, None), (0.0, 1), (0.15, 2), (0.35, 3)])
def test_map_matches_pycocotools(shift, noise, multi_label):
    boxes, classes = _scenes()
    out = _outputs(boxes, classes, shift=shift, noise_seed=noise)
    task, report = _evaluate(out, boxes, classes, eval_multi_label=multi_label)
    stats = _direct_pycocotools(task, out, boxes, classes)
    for key, value in zip(STATS, stats):          # COCO's -1 (nothing of that size) is None
        assert report[key] == (None if value == -1 else pytest.approx(value, abs=1e-6)), key
    # 64 x 64 inputs, objects of 5 to 13 pixels a side: all small, no medium or large figure
    assert report["map_small"] is not None
    assert report["map_medium"] is report["map_large"] is report["ar_large"] is None


def test_perfect_predictions_score_one_and_shifts_lower_it():
    boxes, classes = _scenes()
    _, perfect = _evaluate(_outputs(boxes, classes), boxes, classes)
    assert perfect["map"] == pytest.approx(1.0) and perfect["map50"] == pytest.approx(1.0)
    assert perfect["precision"] == 1.0 and perfect["recall"] == 1.0
    assert all(v == pytest.approx(1.0) for v in perfect["ap50_per_class"].values())
    assert all(v == pytest.approx(1.0) for v in perfect["ap_per_class"].values())
    assert perfect["ar100"] == pytest.approx(1.0)
    previous = 1.0
    for shift in (0.03, 0.08, 0.2):                      # cell units: 0.5 to 3 pixels
        _, r = _evaluate(_outputs(boxes, classes, shift=shift), boxes, classes)
        assert r["map"] < previous
        previous = r["map"]
    assert previous < 0.5


def test_no_detections_give_zero():
    boxes, classes = _scenes(6)
    out = np.zeros((6, GRID, GRID, 5 * B + 3))
    _, r = _evaluate(out, boxes, classes)
    assert r["map"] == 0.0 and r["map50"] == 0.0 and r["recall"] == 0.0


def test_evaluation_writes_the_pr_curve_and_the_confusion_matrix(tmp_path):
    """A tiny evaluation (noisy outputs, no model) leaves the three PNGs, of the expected sizes, and
    a confusion matrix in the metrics whose rows count the objects and columns the detections."""
    import json

    import cv2

    boxes, classes = _scenes()
    out = _outputs(boxes, classes, shift=0.1, noise_seed=4)
    task, report = _evaluate(out, boxes, classes, tmp_path)
    json.dumps(report, allow_nan=False)                          # what metrics.json will hold
    assert cv2.imread(report["pr_curve_png"]).shape == (500, 800, 3)
    assert cv2.imread(report["confusion_matrix_png"]).shape == (320, 340, 3)   # 4 labels
    assert cv2.imread(report["detections_png"]) is not None
    assert {p.name for p in tmp_path.iterdir()} == {"detections.png", "pr_curve.png",
                                                     "confusion_matrix.png"}
    cm = report["confusion_matrix"]
    counts = np.array(cm["counts"])
    assert cm["labels"] == [*NAMES, "background"] and counts.shape == (4, 4) and counts[3, 3] == 0
    assert cm["score_threshold"] == task.cfg.score_threshold and cm["iou"] == 0.5
    assert counts[:3].sum() == report["objects"] == (classes >= 0).sum()
    from visiontk.runtime.detection import decode

    shown = sum(b.score >= task.cfg.score_threshold
                for p in decode(out, task.eval_meta(), score_threshold=0.0) for b in p.boxes)
    assert counts[:, :3].sum() == shown
    assert 0 < np.trace(counts) <= shown


def test_the_docstring_examples_of_the_evaluation_run():
    import doctest

    from visiontk.tasks.detection import evaluation

    failed, tried = doctest.testmod(evaluation, optionflags=doctest.ELLIPSIS)
    assert failed == 0 and tried >= 6          # coco_map, detection_confusion, match_by_iou
