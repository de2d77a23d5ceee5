"""The localization head's class branch: its pooling (`model.head.class_pool`: avg, max and attention
pool what they say) and the two-stage crop (`model.head.crop_size`: `BoxCrop` resamples the box's
square as OpenCV does, passes no gradient to the box; the model trains, saves, restores both
backbones from a run and exports to ONNX with parity)."""

from __future__ import annotations

import numpy as np
import pytest


def _features(seed=0):
    return np.random.default_rng(seed).normal(size=(2, 3, 4, 5)).astype(np.float32)


@pytest.mark.parametrize("how", ["avg", "max"])
def test_avg_and_max_pool_the_map(how):
    import keras

    from visiontk.tasks.localization.task import class_pool

    x = _features()
    inp = keras.Input(x.shape[1:])
    got = keras.Model(inp, class_pool(inp, how))(x).numpy()
    want = x.mean((1, 2)) if how == "avg" else x.max((1, 2))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_attention_pool_is_a_softmax_weighted_sum_of_the_cells():
    import keras

    from visiontk.tasks.localization.task import class_pool

    x = _features(1)
    inp = keras.Input(x.shape[1:])
    model = keras.Model(inp, class_pool(inp, "attention"))
    kernel, bias = model.get_layer("head_pool_score").get_weights()
    rng = np.random.default_rng(2)
    kernel = rng.normal(size=kernel.shape).astype(np.float32)
    model.get_layer("head_pool_score").set_weights([kernel, bias + 0.5])
    cells = x.reshape(2, 12, 5)
    score = cells @ kernel.reshape(5) + 0.5
    weight = np.exp(score - score.max(1, keepdims=True))
    weight /= weight.sum(1, keepdims=True)
    want = (weight[..., None] * cells).sum(1)
    np.testing.assert_allclose(model(x).numpy(), want, rtol=1e-5, atol=1e-5)
    # a score far above the others at one cell: the pooled vector is that cell's features
    spike = x.copy()
    one_hot_score = np.zeros((5, 1), np.float32)
    one_hot_score[0, 0] = 1000.0
    spike[:, :, :, 0] = -1.0
    spike[:, 1, 2, 0] = 1.0
    model.get_layer("head_pool_score").set_weights([one_hot_score.reshape(kernel.shape), bias])
    np.testing.assert_allclose(model(spike).numpy(), spike[:, 1, 2, :], rtol=1e-5, atol=1e-5)


def _cv2_crop(image, box, size, margin):
    """Reference: the same square, resampled by cv2.warpAffine (bilinear, border replicated)."""
    import cv2

    h, w = image.shape[:2]
    side = max(box[2] * w, box[3] * h) * margin
    step = side / size
    x0, y0 = box[0] * w - side / 2 + step / 2 - 0.5, box[1] * h - side / 2 + step / 2 - 0.5
    m = np.float32([[step, 0, x0], [0, step, y0]])
    return cv2.warpAffine(image, m, (size, size), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def test_box_crop_resamples_like_opencv_and_stops_the_box_gradient():
    import tensorflow as tf

    from visiontk.layers import BoxCrop

    rng = np.random.default_rng(0)
    images = rng.random((3, 48, 64, 3)).astype(np.float32)
    # enlarged 1.6x and 1.05x, and one past the image's corner (the border repeats)
    boxes = np.array([[0.5, 0.5, 0.2, 0.25], [0.3, 0.6, 0.3, 0.4], [0.95, 0.05, 0.3, 0.3]],
                     np.float32)
    layer = BoxCrop(24, margin=1.2)
    crops = np.asarray(layer([images, boxes]))
    assert crops.shape == (3, 24, 24, 3)
    for img, box, crop in zip(images, boxes, crops):
        np.testing.assert_allclose(crop, _cv2_crop(img, box, 24, 1.2), atol=1e-4)
    # shrinking: the filter widens (an average, not every n-th pixel), so a fine checkerboard
    # comes out grey instead of aliasing to black or white
    board = (np.indices((64, 64)).sum(0) % 2).astype(np.float32)[None, ..., None]
    grey = np.asarray(BoxCrop(8, margin=1.0)([board, np.array([[0.5, 0.5, 1.0, 1.0]], "float32")]))
    assert np.abs(grey - 0.5).max() < 0.15
    box = tf.Variable(boxes)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(layer([tf.constant(images), box]))
    assert tape.gradient(total, box) is None


def _crop_recipe(tmp_path, name="run", **head):
    """The tiny localization recipe on a backbone with a feature map, `head` keys added."""
    from tests.tiny_recipes import all_recipes

    data = all_recipes()["localization"]
    data["model"]["backbone"] = {"name": "resnet18", "weights": "none",
                                 "params": {"widths": [4, 4, 8, 8]}}        # a map to pool
    data["model"]["head"].update(head)
    data["output"] = str(tmp_path / name)
    return data


@pytest.mark.slow
def test_two_stage_localizer_trains_restores_both_backbones_and_exports(tmp_path):
    import keras

    from visiontk.export import export_run
    from visiontk.io import read_json
    from visiontk.recipe import load_recipe
    from visiontk.train.loop import train

    first = train(load_recipe(data=_crop_recipe(tmp_path, crop_size=16)), echo=lambda *_: None)
    model = keras.models.load_model(first.run_dir / "model.keras")
    crop_bb = model.get_layer("crop_backbone")
    assert tuple(crop_bb.inputs[0].shape[1:]) == (16, 16, 3)
    assert model.output_shape == (None, 4 + len(read_json(first.run_dir / "meta.json")["class_names"]))
    assert {"mean_iou", "accuracy"} <= set(first.metrics["val"])

    # a second run started from the first: both backbones restored from their namesakes
    data = _crop_recipe(tmp_path, "second", crop_size=16)
    data["model"]["init_from"] = str(first.run_dir)
    lines = []
    second = train(load_recipe(data=data), echo=lines.append)
    report = read_json(second.run_dir / "init_report.json")
    copy = report["copies"]["crop_backbone"]
    assert report["restored"] == report["backbone_layers"] > 0
    assert copy["restored"] == copy["backbone_layers"] > 0 and not copy["not_restored"]
    assert copy["from"] == "crop_backbone"
    assert any("crop_backbone: " in str(line) for line in lines)

    export_run(first.run_dir, formats="all", out=tmp_path / "export", echo=lambda *_: None)
    parity = read_json(tmp_path / "export" / "parity.json")
    assert parity["passed"]
    for fmt in ("saved_model", "onnx", "tflite"):
        assert parity["formats"][fmt]["max_abs"] <= 1e-4, fmt


@pytest.mark.slow
def test_attention_head_trains_saves_and_exports(tmp_path):
    import keras

    from visiontk.export import export_run
    from visiontk.io import read_json
    from visiontk.recipe import load_recipe
    from visiontk.train.loop import train

    result = train(load_recipe(data=_crop_recipe(tmp_path, class_pool="attention")),
                   echo=lambda *_: None)
    model = keras.models.load_model(result.run_dir / "model.keras")
    assert model.get_layer("head_pool_score") is not None
    assert {"mean_iou", "accuracy"} <= set(result.metrics["val"])
    export_run(result.run_dir, formats="onnx", out=tmp_path / "export", echo=lambda *_: None)
    parity = read_json(tmp_path / "export" / "parity.json")
    assert parity["passed"] and parity["formats"]["onnx"]["max_abs"] <= 1e-4


def test_crop_backbone_of_its_own_takes_its_weights_file_and_init_from_leaves_it(tmp_path):
    """`model.head.crop_backbone` (here twice as wide): built from its own spec, its weights from
    its own file; model.init_from restores the box backbone and keeps the crop's."""
    from visiontk.architectures._from_recipe import build_backbone
    from visiontk.recipe import load_recipe
    from visiontk.train.finetune import summary_line
    from visiontk.train.session import prepare

    wide = {"params": {"widths": [8, 8, 16, 16]}}
    base = load_recipe(data=_crop_recipe(tmp_path, "base", crop_size=16))
    main = build_backbone(base)                           # a "pretrained" box backbone: a file
    for v in main.weights:
        v.assign(np.full(v.shape, 0.25, "float32"))
    main.save_weights(tmp_path / "main.weights.h5")
    spec = base.model.backbone.model_copy(update={"params": {"widths": [8, 8, 16, 16]}})
    crop = build_backbone(base, input_shape=(16, 16, 3), spec=spec)
    for i, v in enumerate(crop.weights):
        v.assign(np.full(v.shape, 0.5 + i / 1000, "float32"))
    crop.save_weights(tmp_path / "crop.weights.h5")

    data = _crop_recipe(tmp_path, "two", crop_size=16,
                        crop_backbone={**wide, "weights": str(tmp_path / "crop.weights.h5")})
    data["model"]["init_from"] = str(tmp_path / "main.weights.h5")
    s = prepare(load_recipe(data=data))
    built = s.model.get_layer("crop_backbone")
    assert built.get_layer("conv1_conv").kernel.shape[-1] == 8          # its own widths
    assert s.model.get_layer("backbone").get_layer("conv1_conv").kernel.shape[-1] == 4
    for mine, saved in zip(built.weights, crop.weights):           # its file, untouched by init_from
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(saved))
    box = s.model.get_layer("backbone").get_layer("conv1_conv").kernel
    np.testing.assert_array_equal(np.asarray(box), 0.25)              # init_from restored the box one
    report = s.finetune.report
    assert report["restored"] == report["backbone_layers"] > 0
    assert report["copies"]["crop_backbone"]["from"] is None
    assert "crop_backbone: kept (its own architecture)" in summary_line(report)


def test_crop_backbone_errors_name_its_field(tmp_path):
    from visiontk.errors import ModelError
    from visiontk.recipe import load_recipe
    from visiontk.train.session import prepare

    data = _crop_recipe(tmp_path, crop_size=16,
                        crop_backbone={"weights": str(tmp_path / "missing.weights.h5")})
    with pytest.raises(ModelError, match=r"model\.head\.crop_backbone\.weights: weights file not found"):
        prepare(load_recipe(data=data))
    data = _crop_recipe(tmp_path, crop_size=16, crop_backbone={"params": {"no_such": 1}})
    with pytest.raises(ModelError, match=r"model\.head\.crop_backbone\.params"):
        prepare(load_recipe(data=data))
