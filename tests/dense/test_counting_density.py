"""Density counting (`model.head.density: true`): the map target sums to the count (per class too,
border objects included, batches as single examples), the inference model outputs the map's sum,
training through the API gives count metrics and a counter that predicts and exports like a
regressing one, and the settings it cannot work with are refused."""

import numpy as np
import pytest

from tests.tiny_recipes import all_recipes

DENSITY = {"model": {"head": {"density": True, "density_stride": 4, "decoder_width": 8}}}


def _recipe(tiny_recipe, extra=None):
    from tests.conftest import deep_update

    return tiny_recipe(deep_update(all_recipes()["counting"], deep_update(DENSITY, extra or {})))


BOXES = np.array([[0.1, 0.1, 0.3, 0.5], [0.0, 0.0, 0.05, 0.05], [0.6, 0.5, 0.9, 0.95],
                  [0.0, 0.0, 0.0, 0.0]], np.float32)
CLASSES = np.array([2, 0, 2, -1], np.int32)


def test_density_map_sums_to_the_counts_and_peaks_at_the_centres():
    from visiontk.tasks.counting.density import density_map

    total = np.asarray(density_map(BOXES, CLASSES, (8, 8), 1, 1.0))
    assert total.shape == (8, 8, 1)
    assert total.sum() == pytest.approx(3.0, abs=1e-5)           # the corner object counts fully
    # the corner object's Gaussian, cut by the border and renormalised inside, is the highest peak
    assert np.unravel_index(total[..., 0].argmax(), (8, 8)) == (0, 0)
    per = np.asarray(density_map(BOXES, CLASSES, (8, 8), 3, 1.0))
    assert per.sum((0, 1)) == pytest.approx([1.0, 0.0, 2.0], abs=1e-5)
    # the centre (0.2, 0.3) of the first class-2 box: row 2, column 1 of the 8 x 8 map
    only_first = np.asarray(density_map(BOXES[:1], CLASSES[:1], (8, 8), 1, 0.5))[..., 0]
    assert np.unravel_index(only_first.argmax(), (8, 8)) == (2, 1)
    batch = np.asarray(density_map(np.stack([BOXES, BOXES[::-1]]), np.stack([CLASSES, CLASSES[::-1]]),
                                   (8, 8), 3, 1.0))
    np.testing.assert_allclose(batch[0], per, atol=1e-6)
    np.testing.assert_allclose(batch[1], per, atol=1e-6)          # padding order does not matter


def test_loss_and_metrics_score_the_maps_sums():
    from visiontk.tasks.counting.density import DensityCountLoss, DensityMeanAbsoluteError

    t = np.zeros((2, 4, 4, 1), np.float32)
    t[0, 1, 1, 0], t[1, 2, 2, 0] = 1.0, 2.0
    p = t.copy()
    assert float(DensityCountLoss()(t, p)) == pytest.approx(0.0, abs=1e-7)
    p[0, 1, 1, 0], p[0, 3, 3, 0] = 0.0, 1.0                      # right count, wrong place
    loss = DensityCountLoss(density_weight=1.0)
    assert float(loss(t[:1], p[:1])) == pytest.approx(2.0)           # 1^2 + 1^2 on the cells
    m = DensityMeanAbsoluteError(name="mae")
    m.update_state(t, p + 0.25 / 16)                                 # every count off by 0.25
    assert float(m.result()) == pytest.approx(0.25, abs=1e-5)


def test_density_counter_trains_evaluates_predicts_and_exports(tiny_recipe, tmp_path):
    import keras

    from visiontk.export import export_run
    from visiontk.infer.predictor import Predictor
    from visiontk.train.loop import train

    recipe = _recipe(tiny_recipe, {"model": {"backbone": {"name": "resnet18", "params": {
        "widths": [4, 8, 8, 8]}}}, "data": {"params": {"train_size": 32, "val_size": 16}}})
    result = train(recipe, echo=lambda *_: None)
    val = result.metrics["val"]
    assert val["samples"] == 16 and val["mae"] >= 0 and 0 <= val["exact_accuracy"] <= 1
    history = (result.run_dir / "history.csv").read_text().splitlines()[0]
    assert "val_mae" in history and "val_exact_accuracy" in history
    model = keras.saving.load_model(result.run_dir / "model.keras")
    assert tuple(model.output.shape) == (None, 1)                     # the count, not the map
    pred = Predictor(result.run_dir, backend="keras")
    frame = np.zeros((40, 60, 3), np.uint8)
    out = pred.predict([frame])[0]
    assert out.count >= 0.0 and pred.draw(frame, out).any()
    export_run(result.run_dir, ["onnx"], out=tmp_path / "export", echo=lambda *_: None)  # verifies
    onnx = Predictor(tmp_path / "export", backend="onnx")
    assert onnx.predict([frame])[0].count == pytest.approx(out.count, abs=1e-3)


def test_inference_model_sums_the_training_map(tiny_recipe):
    from visiontk.data.make import make_source
    from visiontk.tasks.base import make_task
    from visiontk.train.model import build_model

    r = _recipe(tiny_recipe, {"model": {"head": {"per_class": True}}})
    task = make_task(r, make_source(r))
    model = build_model(r, task)
    assert tuple(model.output.shape) == (None, 8, 8, 3)              # 32 px / stride 4, 3 classes
    counter = task.inference_model(model)
    x = np.random.default_rng(1).random((2, 32, 32, 3), np.float32)
    np.testing.assert_allclose(np.asarray(counter(x)), np.asarray(model(x)).sum((1, 2)), rtol=1e-4,
                               atol=1e-4)


def test_encode_gives_the_map_and_flips_follow(tiny_recipe):
    from visiontk.data.make import make_source
    from visiontk.tasks.base import make_task

    r = _recipe(tiny_recipe, {"data": {"augment": {"flip": "horizontal"}}})
    task = make_task(r, make_source(r))
    assert task.geometry == ("boxes",) and {"boxes", "classes"} <= task.annotation_keys()
    _, y = task.encode(np.zeros((32, 32, 3), np.float32),
                       {"boxes": BOXES, "classes": CLASSES, "count": np.float32(3)})
    assert np.asarray(y).shape == (8, 8, 1) and float(np.asarray(y).sum()) == pytest.approx(3.0, abs=1e-5)


@pytest.mark.parametrize("extra, message", [
    ({"model": {"head": {"loss": "poisson"}}}, "poisson needs a positive count output"),
    ({"model": {"head": {"density_stride": 5}}}, "density_stride: 5 does not divide the input size"),
])
def test_density_refuses_what_it_cannot_do(tiny_recipe, extra, message):
    from visiontk.data.make import make_source
    from visiontk.errors import RecipeError
    from visiontk.tasks.base import make_task

    r = _recipe(tiny_recipe, extra)
    with pytest.raises(RecipeError, match=message):
        make_task(r, make_source(r))


def test_density_needs_boxes_from_the_source(tmp_path):
    import cv2

    from tests.conftest import TINY, deep_update
    from visiontk.data.make import make_source
    from visiontk.errors import RecipeError
    from visiontk.recipe import load_recipe
    from visiontk.tasks.base import make_task

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "c.csv").write_text("image,count\na.png,1\n")
    data = deep_update(TINY, {"task": "counting", **DENSITY})
    data["data"] = {"source": "csv-counts", "params": {"csv": str(tmp_path / "c.csv")}}
    r = load_recipe(data=data)
    with pytest.raises(RecipeError, match="density: source 'csv-counts' has no object boxes"):
        make_task(r, make_source(r))
