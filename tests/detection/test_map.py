"""mAP through the project's evaluate path equals pycocotools called directly; perfect predictions
give 1.0 and shifted ones less."""

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


def _evaluate(out, boxes, classes):
    task = Detection(DetectionHead(grid=GRID, boxes_per_cell=B), DataInfo(NAMES, (SIZE, SIZE, 3)))
    batches = [(np.zeros((6, SIZE, SIZE, 3), np.float32), {"boxes": boxes[i:i + 6], "classes": classes[i:i + 6]})
               for i in range(0, len(boxes), 6)]
    outputs = iter([out[i:i + 6] for i in range(0, len(out), 6)])
    return task, task.evaluate(lambda images: next(outputs), batches).metrics


def _direct_pycocotools(task, out, boxes, classes):
    """COCO dicts built here, independently of visiontk.tasks.detection.evaluation."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from visiontk.runtime.detection import decode

    preds = decode(out, task.eval_meta(), score_threshold=task.cfg.eval_score_threshold)
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
    return ev.stats[0], ev.stats[1]


@pytest.mark.parametrize("shift,noise", [(0.0, None), (0.0, 1), (0.15, 2), (0.35, 3)])
def test_map_matches_pycocotools(shift, noise):
    boxes, classes = _scenes()
    out = _outputs(boxes, classes, shift=shift, noise_seed=noise)
    task, report = _evaluate(out, boxes, classes)
    m, m50 = _direct_pycocotools(task, out, boxes, classes)
    assert report["map"] == pytest.approx(m, abs=1e-6)
    assert report["map50"] == pytest.approx(m50, abs=1e-6)


def test_perfect_predictions_score_one_and_shifts_lower_it():
    boxes, classes = _scenes()
    _, perfect = _evaluate(_outputs(boxes, classes), boxes, classes)
    assert perfect["map"] == pytest.approx(1.0) and perfect["map50"] == pytest.approx(1.0)
    assert perfect["precision"] == 1.0 and perfect["recall"] == 1.0
    assert all(v == pytest.approx(1.0) for v in perfect["ap50_per_class"].values())
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
