"""Targets built in tf.data (encode) come back exactly through the numpy decode (round trip)."""

from __future__ import annotations

import numpy as np
import pytest

from visiontk.runtime import detection as runtime
from visiontk.runtime.boxes import to_pixels
from tests.detection.perfect import targets_to_outputs
from visiontk.tasks.detection.encode import encode_grid

# one box per cell for every grid below (centres at least 1/8 apart), little overlap
BOXES = np.array([[0.02, 0.05, 0.20, 0.30], [0.60, 0.10, 0.95, 0.35], [0.30, 0.55, 0.45, 0.98],
                  [0.70, 0.70, 0.99, 0.90]], np.float32)
CLASSES = np.array([2, 0, 1, 2], np.int32)


def _meta(grid, b, shape=(96, 128, 3), resize="stretch"):
    return {"input": {"shape": list(shape), "resize": resize}, "class_names": ["a", "b", "c"],
            "decode": {"grid": grid, "boxes_per_cell": b, "score_threshold": 0.5,
                       "iou_threshold": 0.45, "max_detections": 100}}


@pytest.mark.parametrize("grid", [4, 6, 7, 13])
@pytest.mark.parametrize("b", [1, 2, 3])
def test_round_trip_exact(grid, b):
    padded = np.concatenate([BOXES, np.zeros((2, 4), np.float32)])
    classes = np.concatenate([CLASSES, [-1, -1]]).astype(np.int32)
    target = np.asarray(encode_grid(padded, classes, grid, 3))
    assert target.shape == (grid, grid, 8)
    assert target[..., 0].sum() == len(BOXES)                 # padding encodes nothing
    for slot in range(b):
        out = targets_to_outputs(target[None], b, slot=slot)
        pred = runtime.decode(out, _meta(grid, b), [(480, 640)])[0]
        assert len(pred.boxes) == len(BOXES)
        got = sorted((bx.cls, bx.x1, bx.y1, bx.x2, bx.y2) for bx in pred.boxes)
        want = sorted((int(c), *(np.float64(v) for v in box * [640, 480, 640, 480]))
                      for c, box in zip(CLASSES, BOXES))
        for g, w in zip(got, want):
            assert g[0] == w[0]
            np.testing.assert_allclose(g[1:], w[1:], atol=1e-3)   # float32 targets, 640 px image
        assert all(bx.score == pytest.approx(1.0) for bx in pred.boxes)


def test_target_values_are_the_yolo_v1_encoding():
    t = np.asarray(encode_grid([[0.1, 0.1, 0.3, 0.5]], [2], 4, 3))
    # centre (0.2, 0.3) -> column 0, row 1; offsets 0.8, 0.2 in the cell; sqrt of w, h
    np.testing.assert_allclose(t[1, 0], [1, 0.8, 0.2, np.sqrt(0.2), np.sqrt(0.4), 0, 0, 1], atol=1e-6)
    assert t.sum() == pytest.approx(t[1, 0].sum())


def test_largest_object_owns_a_shared_cell():
    boxes = [[0.10, 0.10, 0.20, 0.20], [0.02, 0.02, 0.30, 0.30]]      # both centres in cell (0, 0)
    t = np.asarray(encode_grid(boxes, [0, 1], 2, 2))
    assert t[0, 0, 0] == 1 and t[..., 0].sum() == 1
    assert t[0, 0, 6] == 1                                             # class 1: the larger box
    np.testing.assert_allclose(t[0, 0, 3], np.sqrt(0.28), atol=1e-6)


def test_decode_threshold_nms_and_max_detections():
    meta = _meta(2, 2, shape=(100, 100, 3))
    out = np.zeros((1, 2, 2, 12))
    # two predictors of one cell on nearly the same box (same class): NMS keeps the better
    out[0, 0, 0, :10] = [0.9, 0.5, 0.5, 0.6, 0.6, 0.8, 0.52, 0.5, 0.6, 0.6]
    out[0, 0, 0, 10:] = [1.0, 0.0]
    # a low-confidence box elsewhere is under the threshold
    out[0, 1, 1, :5] = [0.3, 0.5, 0.5, 0.3, 0.3]
    out[0, 1, 1, 10:] = [0.0, 1.0]
    pred = runtime.decode(out, meta)[0]
    assert [round(b.score, 3) for b in pred.boxes] == [0.9]
    assert len(runtime.decode(out, meta, score_threshold=0.1)[0].boxes) == 2
    meta["decode"]["max_detections"] = 1
    assert len(runtime.decode(out, meta, score_threshold=0.1)[0].boxes) == 1
    # other class: no suppression across classes
    out[0, 0, 1, :5] = out[0, 0, 0, 5:10]
    out[0, 0, 1, 10:] = [0.0, 1.0]
    meta["decode"]["max_detections"] = 10
    classes = sorted(b.cls for b in runtime.decode(out, meta)[0].boxes)
    assert classes == [0, 1]


def test_letterboxed_runs_map_boxes_back_to_the_original_image():
    meta = _meta(4, 1, shape=(100, 100, 3), resize="pad")
    # a 200 x 100 image letterboxed into 100 x 100: scale 0.5, 25 px bands on top and bottom
    px = to_pixels(np.array([[0.0, 0.25, 1.0, 0.75]]), meta, (100, 200))
    np.testing.assert_allclose(px, [[0, 0, 200, 100]], atol=1e-9)
