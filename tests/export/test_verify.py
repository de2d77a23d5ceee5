"""The export verification's comparisons on hand-made data: decoded predictions that differ in
class, box position (past 1e-3 of the image size), count or number of boxes are reported; raw outputs
get max_abs / max_rel per output; a format is failed when either disagrees."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from visiontk.export.verify import output_parity, prediction_mismatches, verify
from visiontk.runtime.classification import ClassificationPrediction
from visiontk.runtime.counting import CountingPrediction
from visiontk.runtime.denoising import DenoisingPrediction
from visiontk.runtime.detection import DetectionPrediction
from visiontk.runtime.metric import MetricPrediction
from visiontk.runtime.predictions import Box
from visiontk.runtime.segmentation import SegmentationPrediction

SIZES = [(100, 200)]                       # (h, w): 1e-3 of the width is 0.2 px


def _detection():
    return [DetectionPrediction(boxes=[Box(10.0, 20.0, 50.0, 60.0, 1, 0.9, "b"),
                                       Box(100.0, 5.0, 150.0, 40.0, 0, 0.8, "a")])]


def test_identical_predictions_agree():
    assert prediction_mismatches(_detection(), _detection(), SIZES) == []


def test_a_different_class_is_reported():
    ref = [ClassificationPrediction(label=0, name="cat", score=0.7, top=[("cat", 0.7)])]
    got = [ClassificationPrediction(label=1, name="dog", score=0.7, top=[("cat", 0.7)])]
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


def test_boxes_whose_scores_tie_may_come_in_either_order():
    """Float noise breaks a tie in score differently per backend: the same boxes in swapped ranks
    agree; swapped boxes whose scores differ, or a tie with a moved box, are reported."""
    tie = [DetectionPrediction(boxes=[Box(10.0, 20.0, 50.0, 60.0, 1, 0.0100331, "b"),
                                      Box(100.0, 5.0, 150.0, 40.0, 0, 0.0100330, "a")])]
    swapped = copy.deepcopy(tie)
    swapped[0].boxes.reverse()
    assert prediction_mismatches(tie, swapped, SIZES) == []
    apart = _detection()
    apart_swapped = copy.deepcopy(apart)
    apart_swapped[0].boxes.reverse()                   # 0.9 vs 0.8: not a tie, the ranks differ
    assert len(prediction_mismatches(apart, apart_swapped, SIZES)) == 2
    swapped[0].boxes[0].x1 += 5.0
    (problem,) = prediction_mismatches(tie, swapped, SIZES)
    assert problem.startswith("image 0: box 1 differs")


def test_a_different_count_is_reported():
    ref = [CountingPrediction(count=3.0)]
    assert prediction_mismatches(ref, [CountingPrediction(count=3.0005)], SIZES) == []
    assert prediction_mismatches(ref, [CountingPrediction(count=3.2)], SIZES) == \
        ["image 0: count 3.2 instead of 3.0"]
    fewer = _detection()
    fewer[0].boxes.pop()
    assert prediction_mismatches(_detection(), fewer, SIZES) == ["image 0: 1 boxes instead of 2"]
    assert prediction_mismatches(_detection() * 2, _detection(), SIZES * 2) == \
        ["1 predictions instead of 2"]



def test_masks_images_embeddings_and_extras_are_compared_by_their_task():
    mask = np.zeros((4, 5), np.int32)
    moved = mask.copy()
    moved[0, :2] = 1
    assert prediction_mismatches([SegmentationPrediction(mask=mask)], [SegmentationPrediction(
        mask=moved)], SIZES) == ["image 0: mask differs (2 pixels)"]
    grey = np.full((4, 5, 1), 100, np.uint8)
    assert prediction_mismatches([DenoisingPrediction(image=grey)],
                                 [DenoisingPrediction(image=grey + 1)], SIZES) == []
    assert prediction_mismatches([DenoisingPrediction(image=grey)], [DenoisingPrediction(
        image=grey + 2)], SIZES) == ["image 0: output image differs by more than 1 grey level"]
    ref = MetricPrediction(embedding=np.array([0.5, 0.5]), identity="ann", distance=0.2,
                           extra={"nearest": "ann"})
    got = MetricPrediction(embedding=np.array([0.5, 0.5005]), identity="unknown", distance=0.9,
                           extra={"nearest": "bob"})
    assert prediction_mismatches([ref], [got], SIZES) == [
        "image 0: identity 'unknown' (0.9) instead of 'ann' (0.2)",
        "image 0: nearest 'bob' instead of 'ann'"]


def test_a_prediction_of_another_task_is_reported():
    ref = [CountingPrediction(count=2.0)]
    assert prediction_mismatches(ref, _detection(), SIZES) == \
        ["image 0: a detection prediction instead of a counting one"]


def test_to_dict_gives_the_task_then_its_fields_then_extras():
    pred = CountingPrediction(count=2.123456, extra={"counts": {"a": 2.1235}})
    assert list(pred.to_dict().items()) == [("task", "counting"), ("count", 2.1235),
                                            ("counts", {"a": 2.1235})]
    assert _detection()[0].to_dict()["count"] == 2.0 and \
        DetectionPrediction().to_dict() == {"task": "detection", "count": 0.0, "boxes": []}

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
        return [CountingPrediction(count=round(float(v), 1)) for v in np.ravel(outputs)]


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
