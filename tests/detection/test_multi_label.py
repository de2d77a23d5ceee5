"""Evaluation's multi-label decoding (model.head.eval_multi_label): a box is scored once for every
class whose score reaches the evaluation threshold, so a found object whose class the model ranks
second still counts in its class's precision-recall curve; `predict` and the figures at the decode
threshold keep one class per box."""

from __future__ import annotations

import numpy as np
import pytest

from tests.detection.test_map import NAMES, _evaluate, _outputs, _scenes
from visiontk.runtime.detection import decode

META = {"input": {"shape": [64, 64, 3]}, "class_names": ["a", "b", "c"],
        "decode": {"grid": 2, "boxes_per_cell": 1, "score_threshold": 0.3}}


def _grid_out():
    out = np.zeros((1, 2, 2, 5 + 3))
    out[0, 0, 0] = [0.9, 0.5, 0.5, 0.5, 0.5, 0.55, 0.45, 0.0]      # unsure between a and b
    out[0, 1, 1] = [0.8, 0.5, 0.5, 0.4, 0.4, 0.0, 0.0, 1.0]        # sure: c
    return out


def _found(pred):
    return sorted((b.name, round(b.score, 4), round(b.x1, 3)) for b in pred.boxes)


def test_grid_one_class_per_box_by_default():
    assert _found(decode(_grid_out(), META)[0]) == [("a", 0.495, 8.0), ("c", 0.8, 42.88)]


def test_grid_multi_label_keeps_every_class_reaching_the_threshold():
    many = decode(_grid_out(), META, multi_label=True)[0]
    assert _found(many) == [("a", 0.495, 8.0), ("b", 0.405, 8.0), ("c", 0.8, 42.88)]
    # the same box under both names, and nothing under a name below the threshold
    assert _found(decode(_grid_out(), META, multi_label=True, score_threshold=0.45)[0]) == \
        [("a", 0.495, 8.0), ("c", 0.8, 42.88)]
    meta = {**META, "decode": {**META["decode"], "multi_label": True}}
    assert _found(decode(_grid_out(), meta)[0]) == _found(many)


def test_anchor_free_multi_label():
    meta = {"input": {"shape": [64, 64, 3]}, "class_names": ["a", "b"],
            "decode": {"layout": "anchor_free", "score_threshold": 0.3}}
    out = np.array([[[0.1, 0.1, 0.5, 0.5, 0.7, 0.6], [0.5, 0.5, 0.9, 0.9, 0.2, 0.1]]])
    assert _found(decode(out, meta)[0]) == [("a", 0.7, 6.4)]
    assert _found(decode(out, meta, multi_label=True)[0]) == [("a", 0.7, 6.4), ("b", 0.6, 6.4)]


def _second_guess_outputs(boxes, classes, share=0.4, seed=0):
    """Exact boxes; for `share` of the objects the true class only second (0.35 against 0.6)."""
    out = _outputs(boxes, classes, noise_seed=1)
    rng = np.random.default_rng(seed)
    probs = out[..., 10:]
    for cell in zip(*np.nonzero(out[..., 0] > 0.25)):
        true = int(probs[cell].argmax())
        p = np.full(len(NAMES), 0.05 / (len(NAMES) - 2))
        if rng.uniform() < share:
            p[true], p[(true + 1) % len(NAMES)] = 0.35, 0.6
        else:
            p[true], p[(true + 1) % len(NAMES)] = 0.9, 0.05
        probs[cell] = p / p.sum()
    return out


def test_multi_label_counts_objects_named_second_and_leaves_the_operating_point_alone():
    boxes, classes = _scenes(n=30)
    out = _second_guess_outputs(boxes, classes)
    _, one = _evaluate(out, boxes, classes, eval_multi_label=False)
    _, many = _evaluate(out, boxes, classes, eval_multi_label=True)
    assert many["map50"] > one["map50"] + 0.1, (one["map50"], many["map50"])
    assert many["ar50"] > one["ar50"] + 0.2
    for key in ("precision", "recall", "f1", "recall_any_class"):
        assert many[key] == one[key], key
    assert many["confusion_matrix"] == one["confusion_matrix"]
    assert one["recall"] < 0.8                          # objects named second are missed there
