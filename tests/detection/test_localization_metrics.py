"""Localization metrics on fixed boxes of known IoU: the Keras metrics seen during training (BoxIoU,
BoxIoU at 0.5, ClassAccuracy) and the evaluation report (localization_report) give the same values.

True box: (cx, cy, w, h) = (0.5, 0.5, 0.5, 0.5), i.e. x1, y1, x2, y2 = 0.25..0.75 (exact in
binary, so IoU 0.5 is exactly 0.5 and sits on the ">= 0.5" side).
"""

from __future__ import annotations

import numpy as np
import pytest

TRUE = [0.5, 0.5, 0.5, 0.5]
# (predicted cx, cy, w, h), predicted class (true class: 0), IoU with TRUE
CASES = [
    ([0.5, 0.5, 0.5, 0.5], 0, 1.0),              # identical
    ([0.75, 0.5, 0.5, 0.5], 0, 1 / 3),           # shifted by half a width: 0.125 / 0.375
    ([0.5, 0.5, 0.5, 0.25], 1, 0.5),             # inside, half the area; wrong class
    ([0.125, 0.125, 0.25, 0.25], 0, 0.0),        # touches the corner only
]
IOUS = np.array([iou for *_, iou in CASES])
RIGHT = np.array([cls == 0 for _, cls, _ in CASES])
WANT = {"mean_iou": IOUS.mean(), "iou50": (IOUS >= 0.5).mean(), "accuracy": RIGHT.mean(),
        "accuracy_iou50": ((IOUS >= 0.5) & RIGHT).mean()}


def _outputs(num_classes=2):
    y_true = np.array([TRUE + [1.0, 0.0]] * len(CASES), np.float32)
    y_pred = np.array([box + list(np.eye(num_classes)[cls] * 0.8 + 0.1) for box, cls, _ in CASES],
                      np.float32)
    return y_true, y_pred


def test_keras_metrics_on_boxes_of_known_iou():
    from visiontk.tasks.localization.loss import BoxIoU, ClassAccuracy

    y_true, y_pred = _outputs()
    for metric, want in [(BoxIoU(), WANT["mean_iou"]), (BoxIoU(0.5, name="iou50"), WANT["iou50"]),
                         (ClassAccuracy(), WANT["accuracy"])]:
        metric.update_state(y_true, y_pred)
        assert float(metric.result()) == pytest.approx(want, abs=1e-6), metric.name
    # one at a time: each case's own IoU
    for (box, cls, iou), t, p in zip(CASES, y_true, y_pred):
        m = BoxIoU()
        m.update_state(t[None], p[None])
        assert float(m.result()) == pytest.approx(iou, abs=1e-6)


def test_localization_report_on_boxes_of_known_iou():
    from visiontk.tasks.localization.evaluation import localization_report

    _, y_pred = _outputs()
    h, w = 40, 80                                         # not square: boxes scale per axis
    meta = {"input": {"shape": [h, w, 3], "resize": "stretch"}, "class_names": ["a", "b"],
            "decode": {}}
    true_xyxy = np.array([[0.25, 0.25, 0.75, 0.75]] * len(CASES))
    images = np.zeros((len(CASES), h, w, 3), np.float32)
    # two batches, so the report accumulates over batches
    batches = [(images[:3], {"box": true_xyxy[:3], "label": np.zeros(3, int)}),
               (images[3:], {"box": true_xyxy[3:], "label": np.zeros(1, int)})]
    outputs = iter([y_pred[:3], y_pred[3:]])
    report = localization_report(lambda _: next(outputs), batches, meta)
    assert report["samples"] == len(CASES)
    for key, want in WANT.items():
        assert report[key] == pytest.approx(want, abs=1e-9), key
    assert (report["mean_iou"], report["iou50"], report["accuracy"], report["accuracy_iou50"]) == \
        pytest.approx((11 / 24, 0.5, 0.75, 0.25))
    # 40 x 20 px boxes: all small (area < 32²), none medium or large (-1, as COCO)
    assert (report["samples_small"], report["samples_medium"], report["samples_large"]) == (4, 0, 0)
    assert report["accuracy_small"] == pytest.approx(0.75)
    assert report["mean_iou_small"] == pytest.approx(11 / 24)
    assert report["accuracy_medium"] == report["mean_iou_large"] == -1.0


def test_localization_report_splits_by_object_size():
    from visiontk.tasks.localization.evaluation import localization_report

    h = w = 200
    meta = {"input": {"shape": [h, w, 3], "resize": "stretch"}, "class_names": ["a", "b"],
            "decode": {}}
    # true boxes of 20 x 20 (small), 50 x 50 (medium) and 100 x 100 px (large), each predicted
    # exactly; only the medium one with the right class
    true = np.array([[0.0, 0.0, 0.1, 0.1], [0.0, 0.0, 0.25, 0.25], [0.0, 0.0, 0.5, 0.5]])
    pred = np.array([[0.05, 0.05, 0.1, 0.1, 0.1, 0.9], [0.125, 0.125, 0.25, 0.25, 0.9, 0.1],
                     [0.25, 0.25, 0.5, 0.5, 0.1, 0.9]], np.float32)
    report = localization_report(lambda _: pred, [(np.zeros((3, h, w, 3)), {
        "box": true, "label": np.zeros(3, int)})], meta)
    for size, acc in [("small", 0.0), ("medium", 1.0), ("large", 0.0)]:
        assert report[f"samples_{size}"] == 1
        assert report[f"accuracy_{size}"] == acc
        assert report[f"mean_iou_{size}"] == pytest.approx(1.0)
