"""Segmentation named by a detector's boxes (`model.head.detector`): NameByBoxes against numpy, and
a tiny U-Net + tiny grid detector trained through recipes whose model.keras equals those stages
computed by hand, evaluates to its run's metrics and exports with parity; errors name the field."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import deep_update


def _name_by_hand(probs, rows, min_score, window=None):
    """NameByBoxes in plain numpy, pixel by pixel."""
    n, h, w, _ = probs.shape
    top, left, full_h, full_w = window or (0, 0, h, w)
    out = probs.copy()
    for i in range(n):
        for y in range(h):
            for x in range(w):
                cy, cx = (top + y + 0.5) / full_h, (left + x + 0.5) / full_w
                votes = sum((r[4:] for r in rows[i] if r[4:].max() >= min_score
                             and r[0] <= cx < r[2] and r[1] <= cy < r[3]), np.zeros(rows.shape[-1] - 4))
                if votes.sum() > 0:
                    bg = probs[i, y, x, 0]
                    out[i, y, x] = np.concatenate([[bg], (1 - bg) * votes / votes.sum()])
    return out


def test_name_by_boxes_gives_covered_pixels_the_boxes_classes():
    from visiontk.tasks.segmentation.layers import NameByBoxes

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), (2, 6, 8)).astype(np.float32)          # background + 3 classes
    rows = np.array([[[0.0, 0.0, 0.5, 0.5, 0.6, 0.1, 0.1],                 # top-left, class 0
                      [0.25, 0.25, 1.0, 1.0, 0.05, 0.0, 0.7],              # bottom-right, class 2
                      [0.5, 0.0, 1.0, 0.5, 0.02, 0.03, 0.01]],             # under min_score
                     [[0.1, 0.2, 0.3, 0.9, 0.0, 0.9, 0.0],
                      [0.0, 0.0, 0.0, 0.0, 0.9, 0.0, 0.0],                  # empty box: covers nothing
                      [0.6, 0.6, 0.9, 0.9, 0.2, 0.2, 0.2]]], np.float32)
    got = np.asarray(NameByBoxes(0.1)([probs, rows]))
    want = _name_by_hand(probs, rows, 0.1)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.array_equal(got[0, 5, 7], want[0, 5, 7])
    np.testing.assert_array_equal(got[0, 0, 7], probs[0, 0, 7])      # only the ignored box covers it
    assert got[0, 0, 0, 1:].argmax() == 0 and got[0, 5, 7, 1:].argmax() == 2
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-5)          # still a distribution
    # a map smaller than its input (valid padding): pixel centres read in the input's frame
    window = (2, 3, 10, 14)
    got = np.asarray(NameByBoxes(0.1, window)([probs, rows]))
    np.testing.assert_allclose(got, _name_by_hand(probs, rows, 0.1, window), atol=1e-6)


def test_candidate_rows_are_the_grid_boxes_scored():
    from visiontk.tasks.detection.layers import CandidateRows, RescoreRows

    cand = np.array([[[0.5, 0.5, 0.2, 0.4, 0.8, 0.7, 0.2, 0.1],
                      [0.05, 0.9, 0.3, 0.4, 0.3, 0.1, 0.1, 0.8]]], np.float32)
    rows = np.asarray(CandidateRows()(cand))
    np.testing.assert_allclose(rows[0, 0], [0.4, 0.3, 0.6, 0.7, 0.56, 0.16, 0.08], atol=1e-6)
    np.testing.assert_allclose(rows[0, 1, :4], [0.0, 0.7, 0.2, 1.0], atol=1e-6)    # clipped
    np.testing.assert_allclose(rows, np.asarray(RescoreRows(0.0)([cand, cand[..., 5:]])), atol=1e-5)


def _train(data, tmp_path, name):
    from tests.tiny_recipes import all_recipes
    from visiontk.recipe import load_recipe
    from visiontk.train.loop import train

    recipe = deep_update(all_recipes()[name], data)
    recipe["output"] = str(tmp_path / name)
    return train(load_recipe(data=recipe), echo=lambda *_: None)


def _segmentation(detector, **head):
    return {"model": {"input_shape": [48, 48, 3],
                      "head": {"detector": {"model": str(detector), **head}}},
            "data": {"params": {"train_size": 32, "val_size": 16, "max_objects": 3}}}


@pytest.mark.slow
def test_segmenter_named_by_a_grid_detector_is_its_stages_and_exports(tmp_path):
    import keras
    import tensorflow as tf

    from visiontk.evaluate import evaluate
    from visiontk.export import export_run
    from visiontk.io import read_json
    from visiontk.model_files import load_keras_model
    from visiontk.runtime.detection import grid_boxes

    det = _train({}, tmp_path, "detection").run_dir
    result = _train(_segmentation(det, min_score=0.05), tmp_path, "segmentation")
    run = result.run_dir
    model = load_keras_model(run / "model.keras")
    assert model.output_shape == (None, 48, 48, 4)
    assert read_json(run / "meta.json")["decode"] == {"output": "softmax", "threshold": 0.5}

    # by hand: the U-Net's probabilities, the grid detector's every box on the image resized to
    # its 32 px, the boxes' class scores painted over the pixels they cover
    images = np.random.default_rng(1).uniform(0, 1, (2, 48, 48, 3)).astype(np.float32)
    unet = keras.Model(model.input, model.get_layer("mask_probs").output)
    probs = np.asarray(unet(images))
    small = tf.image.resize(images, (32, 32), method="bilinear").numpy()
    grid = np.asarray(load_keras_model(det / "model.keras")(small))
    corners, conf, cls_probs = grid_boxes(grid, 4, 2)
    rows = np.concatenate([corners, conf[..., None] * cls_probs], -1)
    want = _name_by_hand(probs, rows, 0.05)
    got = np.asarray(model(images))
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert not np.allclose(got, probs, atol=1e-3)                    # the boxes did name pixels

    again = evaluate(run, split="val")
    assert again["mean_iou"] == pytest.approx(result.metrics["val"]["mean_iou"], abs=1e-6)
    export_run(run, formats="onnx", out=tmp_path / "export", echo=lambda *_: None)
    parity = read_json(tmp_path / "export" / "parity.json")
    assert parity["passed"] and parity["formats"]["onnx"]["max_abs"] <= 1e-4

    # a run of another task is refused by name: here the segmentation run itself
    from visiontk.errors import RecipeError
    from visiontk.tasks.segmentation.box_classes import load_detector
    from visiontk.tasks.segmentation.config import BoxNamer

    with pytest.raises(RecipeError, match="is a segmentation run, not a detection run"):
        load_detector(BoxNamer(model=str(run)), ["circle", "square", "triangle"], 3)


def test_box_naming_errors_name_the_field(tmp_path):
    import yaml

    from visiontk.errors import RecipeError
    from visiontk.recipe import load_recipe
    from visiontk.tasks.segmentation.box_classes import load_detector

    from tests.tiny_recipes import all_recipes

    recipe = deep_update(all_recipes()["segmentation"], _segmentation(tmp_path / "nothing"))
    recipe["output"] = str(tmp_path / "seg")
    path = tmp_path / "seg.yaml"
    path.write_text(yaml.safe_dump(recipe))
    with pytest.raises(RecipeError, match=r"head\.detector\.model.*not found.*train the detector"):
        load_recipe(path)

    empty = tmp_path / "empty_run"
    empty.mkdir()
    cfg = load_recipe(data=deep_update(recipe, _segmentation(empty))).model.head.detector
    with pytest.raises(RecipeError, match=r"model\.head\.detector\.model: .* holds no model\.keras"):
        load_detector(cfg, ["circle", "square", "triangle"], 3)

    # a classification model is not a detector
    import keras

    inputs = keras.Input((16, 16, 3))
    clf = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(inputs)))
    clf.save(tmp_path / "clf.keras")
    cfg = load_recipe(data=deep_update(recipe, _segmentation(tmp_path / "clf.keras"))).model.head.detector
    with pytest.raises(RecipeError, match=r"outputs \(None, 3\), neither a grid detector"):
        load_detector(cfg, ["circle", "square", "triangle"], 3)
    from visiontk.train.session import prepare

    with pytest.raises(RecipeError, match=r"outputs \(None, 3\), neither a grid detector"):
        # refused when the model is built, before training, not after it
        prepare(load_recipe(data=deep_update(recipe, _segmentation(tmp_path / "clf.keras"))))

    one_class = deep_update(recipe, {"model": {"head": {"output": "sigmoid"}},
                                     "data": {"params": {"classes": ["circle"]}}})
    one_class["model"]["head"]["detector"]["model"] = str(tmp_path / "clf.keras")
    from visiontk.train.session import prepare

    with pytest.raises(RecipeError, match="model.head.detector: .*one foreground class"):
        prepare(load_recipe(data=one_class), build=False)
