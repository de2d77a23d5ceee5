"""The grid detector's second stage (`model.head.crop_classifier`): model.keras = the trained grid
+ the top-K boxes cut out (`BoxCrop`) + a crop classifier's opinion, as anchor-free rows; equal to
those stages computed by hand, decoded, evaluated and exported like the multi-scale head's rows."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import TINY, deep_update


def _grid_outputs(n=2, s=3, b=2, c=4, seed=0):
    rng = np.random.default_rng(seed)
    boxes = rng.uniform(0.05, 0.95, (n, s, s, 5 * b)).astype(np.float32)
    logits = rng.normal(size=(n, s, s, c))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return np.concatenate([boxes, probs.astype(np.float32)], -1)


def test_grid_candidates_are_the_most_confident_runtime_boxes():
    from visiontk.runtime.detection import grid_boxes
    from visiontk.tasks.detection.layers import GridCandidates

    out = _grid_outputs()
    got = np.asarray(GridCandidates(3, 2, 5)(out))                        # (2, 5, 5 + 4)
    corners, conf, probs = grid_boxes(out, 3, 2)
    for i in range(2):
        order = np.argsort(-conf[i])[:5]
        np.testing.assert_allclose(got[i, :, 4], conf[i, order], rtol=1e-6)
        c = got[i, :, :4]
        xyxy = np.concatenate([c[:, :2] - c[:, 2:] / 2, c[:, :2] + c[:, 2:] / 2], -1)
        np.testing.assert_allclose(np.clip(xyxy, 0, 1), corners[i, order], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[i, :, 5:], probs[i, order], rtol=1e-6)
    assert GridCandidates(3, 2, 99)(out).shape[1] == 18                    # at most S * S * B


def test_rescored_rows_weigh_both_opinions():
    from visiontk.tasks.detection.layers import RescoreRows

    cand = np.array([[[0.5, 0.5, 0.2, 0.4, 0.8, 0.7, 0.2, 0.1]]], np.float32)   # cx cy w h conf p
    crop = np.array([[[0.1, 0.1, 0.8]]], np.float32)
    for weight, want in ((0.0, [0.7, 0.2, 0.1]), (1.0, [0.1, 0.1, 0.8])):
        rows = np.asarray(RescoreRows(weight)([cand, crop]))[0, 0]
        np.testing.assert_allclose(rows[:4], [0.4, 0.3, 0.6, 0.7], atol=1e-6)
        np.testing.assert_allclose(rows[4:], 0.8 * np.array(want), atol=1e-5)
    mean = np.sqrt(np.array([0.7, 0.2, 0.1]) * np.array([0.1, 0.1, 0.8]))
    rows = np.asarray(RescoreRows(0.5)([cand, crop]))[0, 0]
    np.testing.assert_allclose(rows[4:], 0.8 * mean / mean.sum(), atol=1e-5)
    assert rows[4:].argmax() == 2          # the crop's confident opinion overrules the detector's


def _classifier(tmp_path):
    """A tiny classifier trained on the synthetic scenes' object crops (data.crops)."""
    from visiontk.recipe import load_recipe
    from visiontk.train.loop import train

    data = deep_update(TINY, {
        "model": {"input_shape": [16, 16, 3]},
        "data": {"params": {"train_size": 32, "val_size": 16, "max_objects": 3,
                            "image_size": [32, 32]},
                 "crops": {"margin": 1.3}},
        "output": str(tmp_path / "crops")})
    return train(load_recipe(data=data), echo=lambda *_: None).run_dir


def _detector_recipe(tmp_path, classifier, **stage):
    from tests.tiny_recipes import all_recipes

    data = all_recipes()["detection"]
    data["model"]["head"]["crop_classifier"] = {"model": str(classifier), "top_k": 6, **stage}
    data["output"] = str(tmp_path / "det")
    return data


@pytest.mark.slow
def test_two_stage_detector_is_its_stages_and_exports(tmp_path):
    import keras

    from visiontk.data.box_crops import crop_boxes
    from visiontk.evaluate import evaluate
    from visiontk.export import export_run
    from visiontk.io import read_json
    from visiontk.model_files import load_keras_model
    from visiontk.recipe import load_recipe
    from visiontk.runtime.detection import decode, grid_boxes
    from visiontk.train.loop import train

    crops = _classifier(tmp_path)
    result = train(load_recipe(data=_detector_recipe(tmp_path, crops, weight=0.6, flip=True)),
                   echo=lambda *_: None)
    run = result.run_dir
    meta = read_json(run / "meta.json")
    assert meta["decode"]["layout"] == "anchor_free"
    model = load_keras_model(run / "model.keras")
    c = len(meta["class_names"])
    assert model.output_shape == (None, 6, 4 + c)
    assert {"map50", "map"} <= set(result.metrics["val"])

    # by hand: the grid's 6 most confident boxes, cut out, classified (and mirrored), combined
    images = np.random.default_rng(1).uniform(0, 1, (3, 32, 32, 3)).astype(np.float32)
    grid = np.asarray(keras.Model(model.input, model.get_layer("grid").output)(images))
    corners, conf, probs = grid_boxes(grid, 4, 2)
    classifier = load_keras_model(crops / "model.keras")
    rows = np.asarray(model(images))
    for i in range(3):
        order = np.argsort(-conf[i], kind="stable")[:6]
        raw = grid[i, ..., :10].reshape(-1, 5)[order]
        cols, rws = (order // 2) % 4, order // 8
        cxcywh = np.stack([(cols + raw[:, 1]) / 4, (rws + raw[:, 2]) / 4, raw[:, 3] ** 2,
                           raw[:, 4] ** 2], -1)
        cut = crop_boxes(images[i], cxcywh, 16, 1.3)                    # flip: with its mirror
        p_crop = (np.asarray(classifier(cut)) + np.asarray(classifier(cut[:, :, ::-1]))) / 2
        logp = 0.4 * np.log(probs[i, order] + 1e-7) + 0.6 * np.log(p_crop + 1e-7)
        p = np.exp(logp - logp.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        np.testing.assert_allclose(rows[i, :, :4], corners[i, order], atol=1e-5)
        np.testing.assert_allclose(rows[i, :, 4:], conf[i, order, None] * p, atol=1e-4)
    assert len(decode(rows, meta, score_threshold=0.0)) == 3

    again = evaluate(run, split="val")
    assert again["map50"] == pytest.approx(result.metrics["val"]["map50"], abs=1e-6)
    export_run(run, formats="onnx", out=tmp_path / "export", echo=lambda *_: None)
    parity = read_json(tmp_path / "export" / "parity.json")
    assert parity["passed"] and parity["formats"]["onnx"]["max_abs"] <= 1e-4


def test_crop_classifier_errors_name_the_field(tmp_path):
    from visiontk.errors import RecipeError
    from visiontk.recipe import load_recipe
    from visiontk.tasks.detection.rescore import load_classifier

    recipe_file = tmp_path / "det.yaml"
    import yaml

    recipe_file.write_text(yaml.safe_dump(_detector_recipe(tmp_path, tmp_path / "nothing")))
    with pytest.raises(RecipeError, match=r"crop_classifier\.model.*not found"):
        load_recipe(recipe_file)
    empty = tmp_path / "empty_run"
    empty.mkdir()
    cfg = load_recipe(data=_detector_recipe(tmp_path, empty)).model.head.crop_classifier
    with pytest.raises(RecipeError, match="holds no model.keras"):
        load_classifier(cfg, ["a", "b"], 3)
    from visiontk.train.session import prepare

    with pytest.raises(RecipeError, match="holds no model.keras"):     # when built, before training
        prepare(load_recipe(data=_detector_recipe(tmp_path, empty)))
