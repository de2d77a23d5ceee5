"""The export verification's comparisons on hand-made data: decoded predictions that differ in
class, box position (past 1e-3 of the image size), count or number of boxes are reported; raw outputs
get max_abs / max_rel per output; a format is failed when either disagrees."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from visiontk.export.verify import output_parity, prediction_mismatches, verify
from visiontk.runtime.predictions import Box, Prediction

SIZES = [(100, 200)]                       # (h, w): 1e-3 of the width is 0.2 px


def _detection():
    return [Prediction("detection", boxes=[Box(10.0, 20.0, 50.0, 60.0, 1, 0.9, "b"),
                                           Box(100.0, 5.0, 150.0, 40.0, 0, 0.8, "a")])]


def test_identical_predictions_agree():
    assert prediction_mismatches(_detection(), _detection(), SIZES) == []


def test_a_different_class_is_reported():
    ref = [Prediction("classification", label=0, name="cat", score=0.7, top=[("cat", 0.7)])]
    got = [Prediction("classification", label=1, name="dog", score=0.7, top=[("cat", 0.7)])]
    assert prediction_mismatches(ref, got, SIZES) == ["image 0: class 'dog' instead of 'cat'"]
    boxes = _detection()
    boxes[0].boxes[1].cls = 1
    (problem,) = prediction_mismatches(_detection(), boxes, SIZES)
    assert problem.startswith("image 0: box 1 differs")


@pytest.mark.parametrize("shift, reported", [(0.1, False), (0.19, False), (0.3, True), (5.0, True)])
def test_a_box_is_reported_past_1e_3_of_the_image_size(shift, reported):
    got = _detection()
    got[0].boxes[0].x2 += shift                        # width 200 px: 1e-3 is 0.2 px
    problems = prediction_mismatches(_detection(), got, SIZES)
    assert len(problems) == reported and all(p.startswith("image 0: box 0 differs") for p in problems)


def test_a_different_count_is_reported():
    ref = [Prediction("counting", count=3.0)]
    assert prediction_mismatches(ref, [Prediction("counting", count=3.0005)], SIZES) == []
    assert prediction_mismatches(ref, [Prediction("counting", count=3.2)], SIZES) == \
        ["image 0: count 3.2 instead of 3.0"]
    fewer = _detection()
    fewer[0].boxes.pop()
    assert prediction_mismatches(_detection(), fewer, SIZES) == ["image 0: 1 boxes instead of 2"]
    assert prediction_mismatches(_detection() * 2, _detection(), SIZES * 2) == \
        ["1 predictions instead of 2"]


def test_output_parity_reports_abs_and_rel_per_output():
    ref = {"probs": np.array([[0.25, 0.75]]), "count": np.array([[40.0]])}
    got = {"probs": np.array([[0.25, 0.7501]]), "count": np.array([[40.002]])}
    stats = output_parity(ref, got)
    assert stats["probs"]["max_abs"] == pytest.approx(1e-4)
    assert stats["probs"]["max_rel"] == pytest.approx(1e-4 / 0.75)
    assert stats["count"]["max_abs"] == pytest.approx(2e-3) and stats["count"]["max_rel"] == \
        pytest.approx(5e-5)
    assert "error" in output_parity(ref, {"probs": np.zeros((1, 3)), "count": got["count"]})["probs"]


class _Counting:
    """A task whose decode rounds the single output to a count (what decoded comparison sees)."""

    @staticmethod
    def decode(outputs, meta, sizes):
        return [Prediction("counting", count=round(float(v), 1)) for v in np.ravel(outputs)]


def test_verify_fails_a_format_whose_decoded_predictions_differ():
    """Raw outputs within tolerance but decoded differently (count 2.0 vs 2.1) fail the format."""
    batch = np.zeros((2, 4, 4, 3), np.float32)
    reference = {"count": np.array([[1.96], [2.04]], np.float32)}
    same = lambda x: copy.deepcopy(reference)                              # noqa: E731
    nudged = lambda x: {"count": reference["count"] + np.float32(0.02)}    # noqa: E731
    meta = {"outputs": {"structure": "tensor", "names": ["count"]}}
    report = verify(reference, {"onnx": same, "tflite": nudged}, batch, meta, _Counting, 0.05)
    assert report["formats"]["onnx"]["passed"] and report["formats"]["onnx"]["predictions"] == "identical"
    tfl = report["formats"]["tflite"]
    assert not report["passed"] and not tfl["passed"]
    assert tfl["outputs"]["count"]["max_abs"] == pytest.approx(0.02, abs=1e-6)    # within 0.05 ...
    assert tfl["predictions"] == ["image 1: count 2.1 instead of 2.0"]            # ... decoded apart
