"""COCO's breakdown by object size on hand-made boxes (None where COCO has nothing to measure), the
detection confusion matrix on hand-made cases, the PNGs drawn from them, and what `visiontk
evaluate` prints."""

from __future__ import annotations

import json

import numpy as np
import pytest

from visiontk.tasks.detection.evaluation import (coco_map, detection_confusion, match_by_iou,
                                                 recall_any_class)

SMALL = [10, 10, 20, 20]          # x1, y1, x2, y2 in model-input pixels: area 100 < 32²
MEDIUM = [20, 100, 70, 150]       # 2,500: between 32² and 96²
LARGE = [60, 40, 190, 190]        # 19,500 > 96²


def _coco(truth, found, names=("a", "b")):
    """COCO dicts of one 200 x 200 image: truth [(box, class)], found [(box, class, score)]."""
    def xywh(b):
        return [b[0], b[1], b[2] - b[0], b[3] - b[1]]

    gt = {"images": [{"id": 1, "width": 200, "height": 200}],
          "categories": [{"id": k + 1, "name": n} for k, n in enumerate(names)],
          "annotations": [{"id": i + 1, "image_id": 1, "category_id": c + 1, "bbox": xywh(b),
                           "area": xywh(b)[2] * xywh(b)[3], "iscrowd": 0}
                          for i, (b, c) in enumerate(truth)]}
    dets = [{"image_id": 1, "category_id": c + 1, "bbox": xywh(b), "score": s} for b, c, s in found]
    return gt, dets


def test_a_found_small_object_and_a_missed_large_one():
    """Class a: a small object found exactly, a large one missed; class b: no object at all (its
    detection is not counted anywhere). Nothing medium: those figures are None, not 0."""
    r = coco_map(*_coco([(SMALL, 0), (LARGE, 0)], [(SMALL, 0, 0.9), (MEDIUM, 1, 0.8)]))
    approx = pytest.approx
    assert r["map_small"] == approx(1.0) and r["map_large"] == 0.0 and r["map_medium"] is None
    assert r["ar_small"] == approx(1.0) and r["ar_large"] == 0.0 and r["ar_medium"] is None
    assert r["ar1"] == r["ar10"] == r["ar100"] == r["ar50"] == approx(0.5)
    # recall 0.5 at precision 1: 51 of COCO's 101 recall points
    assert r["map"] == r["map50"] == r["map75"] == approx(51 / 101)
    assert r["ap_per_class"] == {"a": approx(51 / 101), "b": None}
    assert r["ap50_per_class"] == {"a": approx(51 / 101), "b": None}
    assert json.loads(json.dumps(r))["map_medium"] is None                  # null in metrics.json


def test_shifted_boxes_lower_the_strict_thresholds_only():
    """A large box found with IoU 0.82 (moved by 10 % of its width) scores at IoU 0.5 to 0.8 only."""
    moved = [LARGE[0] + 13, LARGE[1], LARGE[2] + 13, LARGE[3]]             # IoU 117 / 143 = 0.82
    r = coco_map(*_coco([(LARGE, 0)], [(moved, 0, 0.9)], names=("a",)))
    assert r["map50"] == r["map75"] == pytest.approx(1.0)
    assert r["map"] == r["map_large"] == pytest.approx(0.7)                 # 7 of 10 thresholds
    assert r["ar100"] == pytest.approx(0.7) and r["map_small"] is None
    assert r["ar50"] == pytest.approx(1.0)                                  # found, at IoU 0.5


def test_no_detections_and_no_objects():
    nothing_found = coco_map(*_coco([(SMALL, 0)], []))
    assert nothing_found["map"] == nothing_found["map_small"] == nothing_found["ar100"] == 0.0
    assert nothing_found["map_large"] is None and nothing_found["ap_per_class"] == {"a": 0.0, "b": None}
    nothing_there = coco_map(*_coco([], [(SMALL, 0, 0.9)]))
    # map, map50, map75 stay numbers (checkpoints follow them); the rest is not measured
    assert nothing_there["map"] == nothing_there["map50"] == nothing_there["map75"] == 0.0
    assert nothing_found["ar50"] == 0.0
    assert all(nothing_there[k] is None for k in ("map_small", "ar1", "ar100", "ar_large", "ar50"))
    assert nothing_there["ap_per_class"] == nothing_there["ap50_per_class"] == {"a": None, "b": None}


def _boxes(*rows):
    return np.array(rows, np.float64).reshape(-1, 4)


def test_confusion_matrix_counts_hits_confusions_false_alarms_and_misses():
    """Classes 0, 1, 2 + background (index 3); rows ground truth, columns detections."""
    truth = (_boxes([0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]), np.array([0, 1, 2]))
    found = (_boxes([0, 0, 10, 9],          # class 0 on the class-0 object: right
                    [21, 20, 31, 30],       # class 0 on the class-1 object (IoU 0.82): confused
                    [70, 70, 80, 80]),      # class 1 on nothing: a false alarm
             np.array([0, 0, 1]))           # the class-2 object: missed
    cm = detection_confusion([truth], [found], 3)
    assert cm.tolist() == [[1, 0, 0, 0],
                           [1, 0, 0, 0],
                           [0, 0, 0, 1],
                           [0, 1, 0, 0]]
    # images add up; an image with nothing in it and an empty one with objects
    two = detection_confusion([truth, (_boxes(), np.array([], int)), truth],
                              [found, (_boxes([5, 5, 9, 9]), np.array([2])), (_boxes(), np.array([]))], 3)
    assert two.tolist() == [[1, 0, 0, 1], [1, 0, 0, 1], [0, 0, 0, 2], [0, 1, 1, 0]]
    # found whatever the class: 2 of 3 objects, then 2 of 6 (the empty image finds none)
    assert recall_any_class(cm) == pytest.approx(2 / 3)
    assert recall_any_class(two) == pytest.approx(2 / 6)
    assert recall_any_class(detection_confusion([], [], 3)) is None


def test_confusion_matrix_pairs_one_to_one_by_iou():
    """Two detections on one object: the better overlap is the match, the other a false alarm; an
    overlap just under the threshold does not match, one exactly at it does."""
    truth = (_boxes([0, 0, 10, 10]), np.array([0]))
    doubled = (_boxes([0, 0, 10, 8], [0, 0, 10, 9]), np.array([1, 0]))   # IoU 0.8 (cls 1), 0.9
    assert detection_confusion([truth], [doubled], 2).tolist() == [[1, 0, 0], [0, 0, 0], [0, 1, 0]]
    half = (_boxes([0, 0, 10, 5]), np.array([0]))                          # IoU exactly 0.5
    assert detection_confusion([truth], [half], 2).tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 0]]
    under = (_boxes([0, 0, 10, 4.9]), np.array([0]))
    assert detection_confusion([truth], [under], 2).tolist() == [[0, 0, 1], [0, 0, 0], [1, 0, 0]]
    # highest IoU first: (0, 0) at 0.9; (1, 0) at 0.8 is refused (column 0 is taken); (1, 1) at 0.7
    rows, cols = match_by_iou(np.array([[0.9, 0.6], [0.8, 0.7]]), 0.5)
    assert rows.tolist() == [0, 1] and cols.tolist() == [0, 1]


def test_the_plots_are_images_of_the_expected_size(tmp_path):
    import cv2

    from visiontk.tasks.detection.plots import plot_detection_confusion, plot_pr_curves

    recall = np.linspace(0, 1, 101)
    precision = np.stack([np.where(recall <= 0.6, 1.0, 0.0), -np.ones(101)], 1)   # b: no objects
    png = plot_pr_curves(recall, precision, ["a", "b"], tmp_path / "pr_curve.png")
    assert cv2.imread(str(png)).shape == (500, 800, 3)
    counts = np.array([[3, 1, 0], [0, 2, 1], [2, 0, 0]])
    png = plot_detection_confusion(counts, ["a", "b", "background"], tmp_path / "confusion_matrix.png")
    # classification's plot: (1 + 0.6 n) x (0.8 + 0.6 n) inches at 100 dpi for n labels
    assert cv2.imread(str(png)).shape == (260, 280, 3)
    assert plot_pr_curves(recall, -np.ones((101, 2)), ["a", "b"], tmp_path / "empty.png").is_file()


def test_evaluate_prints_the_scalars_and_names_the_nested_figures():
    from visiontk.cli.evaluate import terminal_figures

    result = {"map": 0.4, "map_medium": None, "ap_per_class": {"a": 0.4}, "overrides": ["x=1"],
              "confusion_matrix": {"labels": ["a", "background"], "counts": [[1, 0], [0, 0]]},
              "pr_curve_png": "run/eval_val/pr_curve.png", "rows": [[1]]}
    shown, nested = terminal_figures(result)
    assert shown == {"map": 0.4, "map_medium": None, "overrides": ["x=1"],
                     "pr_curve_png": "run/eval_val/pr_curve.png"}
    assert nested == ["ap_per_class", "confusion_matrix", "rows"]
