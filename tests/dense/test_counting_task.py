"""Counting: per-class training through the API, evaluation figures, decode/draw, exact-count
accuracy, and the augmentations it refuses."""

import numpy as np
import pytest

from tests.tiny_recipes import all_recipes


def test_exact_count_accuracy_and_scores():
    from visiontk.tasks.counting.task import exact_count_accuracy
    from visiontk.tasks.counting.evaluation import count_scores

    y = np.array([[2.0], [0.0], [5.0]], np.float32)
    p = np.array([[2.4], [-0.3], [3.6]], np.float32)
    assert np.asarray(exact_count_accuracy(y, p)).tolist() == [1.0, 1.0, 0.0]
    s = count_scores(y[:, 0], p[:, 0])
    assert s["mae"] == pytest.approx((0.4 + 0.0 + 1.4) / 3)            # negative predictions clip to 0
    assert s["rmse"] == pytest.approx(np.sqrt((0.16 + 0 + 1.96) / 3))
    assert s["exact_accuracy"] == pytest.approx(2 / 3)
    assert s["mae_by_true_count"] == {"0": 0.0, "2": pytest.approx(0.4), "5": pytest.approx(1.4)}


def test_per_class_counting_trains_evaluates_and_predicts(tiny_recipe):
    from visiontk.infer.predictor import Predictor
    from visiontk.train.loop import train

    recipe = tiny_recipe({**all_recipes()["counting"], "model": {"head": {"per_class": True, "loss": "mse"}},
                          "data": {"params": {"train_size": 32, "val_size": 16}}})
    result = train(recipe, echo=lambda *_: None)
    val = result.metrics["val"]
    assert set(val["per_class_mae"]) == {"circle", "square", "triangle"}
    assert val["samples"] == 16 and val["mae"] >= 0 and 0 <= val["exact_accuracy"] <= 1
    pred = Predictor(result.run_dir, backend="keras")
    frame = np.zeros((40, 60, 3), np.uint8)
    out = pred.predict([frame])[0]
    assert set(out.extra["counts"]) == {"circle", "square", "triangle"}
    assert out.count == pytest.approx(sum(max(v, 0) for v in out.extra["counts"].values()), abs=1e-3)
    drawn = pred.draw(frame, out)
    assert drawn.shape == frame.shape and drawn.any()                  # "count: N" written


def test_encode_per_class_counts_from_classes(tiny_recipe):
    from visiontk.data.make import make_source
    from visiontk.tasks.base import make_task

    r = tiny_recipe({**all_recipes()["counting"], "model": {"head": {"per_class": True}}})
    task = make_task(r, make_source(r))
    _, y = task.encode(np.zeros((4, 4, 3), np.float32),
                       {"classes": np.array([2, 0, 2, -1], np.int32), "count": np.float32(3)})
    assert np.asarray(y).tolist() == [1.0, 0.0, 2.0]
    task = make_task(tiny_recipe(all_recipes()["counting"]), make_source(r))
    _, y = task.encode(np.zeros((4, 4, 3), np.float32), {"count": np.float32(3)})
    assert np.asarray(y).tolist() == [3.0]


def test_runtime_decode_and_draw_without_tensorflow():
    from visiontk.runtime import counting

    meta = {"class_names": ["a", "b"], "decode": {"per_class": True}}
    p = counting.decode(np.array([[1.2, 2.9]]), meta)[0]
    assert p.count == pytest.approx(4.1) and p.extra["counts"] == {"a": 1.2, "b": 2.9}
    assert p.to_dict()["count"] == pytest.approx(4.1)
    frame = np.zeros((60, 200, 3), np.uint8)
    assert counting.draw(frame.copy(), p, meta).any()


@pytest.mark.parametrize("aug", ["translate", "rotate", "zoom"])
def test_counting_refuses_augmentations_that_change_the_count(tiny_recipe, aug):
    from visiontk.errors import RecipeError
    from visiontk.train.session import prepare

    r = tiny_recipe({**all_recipes()["counting"], "data": {"augment": {aug: 0.1}}})
    with pytest.raises(RecipeError, match=f"data.augment.{aug}: not supported for task 'counting'.*"
                                          "it supports: flip, brightness, contrast"):
        prepare(r, build=False)


def test_per_class_needs_classes_from_the_source(tmp_path):
    import cv2

    from tests.conftest import TINY, deep_update
    from visiontk.data.make import make_source
    from visiontk.errors import RecipeError
    from visiontk.recipe import load_recipe
    from visiontk.tasks.base import make_task

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "c.csv").write_text("image,count\na.png,1\n")
    data = deep_update(TINY, {"task": "counting", "model": {"head": {"per_class": True}}})
    data["data"] = {"source": "csv-counts", "params": {"csv": str(tmp_path / "c.csv")}}
    r = load_recipe(data=data)
    with pytest.raises(RecipeError, match="per_class: source 'csv-counts' has no per-object classes"):
        make_task(r, make_source(r))
