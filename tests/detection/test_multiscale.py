"""The multi-scale head: its recipe section, the model's layout, task-aligned assignment on hand-made
cases, the loss, and the TensorFlow-free decode of its output."""

from __future__ import annotations

import numpy as np
import pytest

from visiontk.errors import ModelError, RecipeError

# A 32 x 32 image at strides 8 and 16: 4x4 + 2x2 = 20 anchors.
SHAPE, STRIDES = (32, 32, 3), [8, 16]


def _anchors():
    from visiontk.tasks.detection.multiscale import anchors_of

    return anchors_of(SHAPE, STRIDES)


def _assign(pred_boxes, pred_scores, gt, **kw):
    from visiontk.tasks.detection.assign import assign

    centres, strides = _anchors()
    gt = np.asarray(gt, np.float32)[None]
    out = assign(np.asarray(pred_boxes, np.float32)[None], np.asarray(pred_scores, np.float32)[None],
                 gt[..., :4], gt[..., 4], centres, strides, **kw)
    return {k: np.asarray(v)[0] for k, v in out.items()}


def _boxes_around(centres, half):
    return np.concatenate([centres - half, centres + half], -1).astype(np.float32)


def test_recipe_picks_the_head_by_type(tiny_recipe):
    from visiontk.tasks.detection.config import DetectionHead, MultiscaleHead

    r = tiny_recipe({"task": "detection", "model": {"head": {"type": "multiscale", "topk": 5}}})
    assert isinstance(r.model.head, MultiscaleHead) and r.model.head.topk == 5
    assert r.model.head.strides == [8, 16, 32] and r.model.head.neck == "pan"
    assert type(tiny_recipe({"task": "detection"}).model.head) is DetectionHead
    with pytest.raises(RecipeError, match=r"model\.head\.grid"):          # a grid field, refused
        tiny_recipe({"task": "detection", "model": {"head": {"type": "multiscale", "grid": 7}}})
    with pytest.raises(RecipeError, match=r"model\.head\.type"):
        tiny_recipe({"task": "detection", "model": {"head": {"type": "pyramid"}}})


def test_model_feature_is_refused_with_the_multiscale_head(tiny_recipe):
    from visiontk.train.session import prepare

    r = tiny_recipe({"task": "detection", "model": {"feature": "S4", "head": {"type": "multiscale"}}})
    with pytest.raises(RecipeError, match=r"model\.feature \(S4\) .* remove model\.feature"):
        prepare(r)


def test_anchor_centres_and_strides_in_output_order():
    centres, strides = _anchors()
    assert centres.shape == (20, 2) and strides.shape == (20, 2)
    assert np.allclose(centres[:4, 0], [0.125, 0.375, 0.625, 0.875]) and np.allclose(centres[:4, 1], 0.125)
    assert np.allclose(centres[16:], [[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]])
    assert np.allclose(strides[:16], 0.25) and np.allclose(strides[16:], 0.5)


def test_the_best_aligned_anchors_inside_the_box_become_positives():
    """One object over the top-left quarter; predictions are perfect at two anchors (one per level),
    poor elsewhere: with topk 2 exactly those two are positives, with the object's box and class."""
    centres, _ = _anchors()
    obj = [0.0, 0.0, 0.5, 0.5, 1]
    preds = _boxes_around(centres, 0.05)
    preds[5] = obj[:4]                      # stride 8, cell (1, 1): centre (0.375, 0.375)
    preds[16] = obj[:4]                     # stride 16, cell (0, 0): centre (0.25, 0.25)
    scores = np.full((20, 2), 0.1, np.float32)
    t = _assign(preds, scores, [obj], topk=2)
    assert np.flatnonzero(t["positive"]).tolist() == [5, 16]
    assert np.allclose(t["boxes"][[5, 16]], obj[:4])
    # class target: alignment normalised so the best anchor gets the best IoU (1.0 here)
    assert np.allclose(t["scores"][[5, 16], 1], 1.0) and np.allclose(t["scores"][[5, 16], 0], 0.0)
    assert t["scores"][np.flatnonzero(t["positive"] == 0)].max() == 0.0


def test_anchors_outside_the_candidates_never_learn_the_object():
    """Even when an anchor far away predicts the object perfectly, it is not a candidate."""
    centres, _ = _anchors()
    obj = [0.0, 0.0, 0.25, 0.25, 0]
    preds = _boxes_around(centres, 0.05)
    preds[15] = obj[:4]                     # bottom-right cell: centre (0.875, 0.875)
    t = _assign(preds, np.full((20, 2), 0.5, np.float32), [obj], topk=10, radius=1.0)
    pos = set(np.flatnonzero(t["positive"]).tolist())
    assert 15 not in pos and pos
    for a in pos:                           # inside the box or within one stride of its centre
        c, s = centres[a], _anchors()[1][a]
        assert (abs(c - 0.125) < s).all() or ((c > 0) & (c < 0.25)).all()


def test_an_anchor_claimed_by_two_objects_keeps_the_one_it_overlaps_most():
    """Two objects whose centres share the stride-16 cell (0, 0); its anchor's prediction overlaps
    the second more: it learns the second, and each object keeps positives of its own."""
    centres, _ = _anchors()
    a, b = [0.0, 0.0, 0.5, 0.5, 0], [0.1, 0.1, 0.4, 0.45, 1]
    preds = _boxes_around(centres, 0.05)
    preds[16] = [0.1, 0.1, 0.4, 0.44]
    t = _assign(preds, np.full((20, 2), 0.5, np.float32), [a, b], topk=3)
    assert t["positive"][16] == 1 and t["object"][16] == 1 and np.argmax(t["scores"][16]) == 1
    owners = t["object"][t["positive"] == 1]
    assert set(owners.tolist()) == {0, 1}


def test_padding_rows_and_empty_images_give_no_positives():
    centres, _ = _anchors()
    pad = [0.0, 0.0, 0.0, 0.0, -1]
    t = _assign(_boxes_around(centres, 0.1), np.full((20, 2), 0.5, np.float32), [pad, pad])
    assert t["positive"].sum() == 0 and t["scores"].sum() == 0


def test_an_object_smaller_than_a_stride_still_gets_positives():
    """A 2 x 2 px object between anchor centres (no centre inside it) has candidates by distance."""
    centres, strides = _anchors()
    obj = [0.19, 0.19, 0.23, 0.23, 0]       # 1.3 px, centre (0.21, 0.21): no anchor centre inside
    inside = ((centres > 0.19) & (centres < 0.23)).all(-1)
    assert not inside.any()
    t = _assign(_boxes_around(centres, 0.02), np.full((20, 2), 0.5, np.float32), [obj], topk=4)
    assert t["positive"].sum() >= 1


def test_loss_prefers_the_right_boxes_and_classes_and_has_gradients():
    import tensorflow as tf

    from visiontk.tasks.detection.tal_loss import TaskAlignedLoss

    centres, _ = _anchors()
    loss = TaskAlignedLoss(SHAPE, STRIDES, num_classes=2)
    y_true = np.array([[[0.0, 0.0, 0.5, 0.5, 1], [0, 0, 0, 0, -1]]], np.float32)
    good = np.concatenate([_boxes_around(centres, 0.25), np.full((20, 2), 0.01, np.float32)], -1)
    inside = (centres < 0.5).all(-1)
    good[inside, :4] = [0.0, 0.0, 0.5, 0.5]
    good[inside, 5] = 0.9
    bad = good.copy()
    bad[inside, :4] = [0.5, 0.5, 0.9, 0.9]
    bad[inside, 4], bad[inside, 5] = 0.9, 0.01
    g, b = float(loss(y_true, good[None])), float(loss(y_true, bad[None]))
    assert np.isfinite(g) and g < b / 3
    empty = np.array([[[0, 0, 0, 0, -1]] * 2], np.float32)
    assert np.isfinite(float(loss(empty, good[None])))
    x = tf.Variable(good[None])
    with tf.GradientTape() as tape:
        value = loss(y_true, x)
    grad = tape.gradient(value, x).numpy()
    assert np.isfinite(grad).all() and np.abs(grad[0, inside]).sum() > 0


def test_model_output_layout_and_backbone_checks():
    import keras

    from visiontk.catalog import ARCHITECTURES, populate
    from visiontk.tasks.detection.config import MultiscaleHead
    from visiontk.tasks.detection.multiscale import build_multiscale

    populate()
    cfg = MultiscaleHead(neck_filters=8, filters=8, convs=1)
    backbone = ARCHITECTURES.get("resnet18")((64, 64, 3), include_top=False, widths=(8, 8, 8, 8))
    model = build_multiscale(backbone, (64, 64, 3), 3, cfg)
    out = model(np.random.default_rng(0).random((2, 64, 64, 3), np.float32))
    assert tuple(out.shape) == (2, 8 * 8 + 4 * 4 + 2 * 2, 7) and out.dtype.name == "float32"
    probs = keras.ops.convert_to_numpy(out[..., 4:])
    assert (probs > 0).all() and (probs < 0.05).all()          # the class prior at the start
    boxes = keras.ops.convert_to_numpy(out[..., :4])
    assert (boxes[..., 2] > boxes[..., 0]).all() and (boxes[..., 3] > boxes[..., 1]).all()
    with pytest.raises(ModelError, match=r"divisible by its largest stride \(32\)"):
        build_multiscale(backbone, (72, 72, 3), 3, cfg)
    lenet = ARCHITECTURES.get("lenet5")((32, 32, 3), include_top=False)
    with pytest.raises(ModelError, match=r"no feature map at stride 8 .* it has"):
        build_multiscale(lenet, (32, 32, 3), 3, cfg)
    with pytest.raises(ModelError, match="must double"):
        build_multiscale(backbone, (64, 64, 3), 3, MultiscaleHead(strides=[8, 32]))


def test_a_map_that_does_not_divide_the_input_evenly_is_named():
    """A 'valid' convolution gives 7 x 7 at stride ~9: its anchors would not line up, so it is
    refused by name instead of failing later on a shape mismatch."""
    import keras

    from visiontk.tasks.detection.multiscale import levels_by_stride

    x = keras.Input((64, 64, 3))
    odd = keras.Model(x, {"C3": keras.layers.Conv2D(4, 9, strides=8, padding="valid")(x)}, name="odd")
    with pytest.raises(ModelError, match=r"do not divide the 64 x 64 input evenly: C3 \(7 x 7\)"):
        levels_by_stride(odd, (64, 64, 3), [8])


def test_runtime_decodes_anchor_rows_with_nms():
    from visiontk.runtime.detection import decode

    meta = {"input": {"shape": [64, 64, 3]}, "class_names": ["a", "b"],
            "decode": {"layout": "anchor_free", "strides": [8], "score_threshold": 0.3,
                       "iou_threshold": 0.5, "max_detections": 10}}
    out = np.zeros((1, 4, 6), np.float32)
    out[0, 0] = [0.1, 0.1, 0.5, 0.5, 0.9, 0.1]            # kept: class a, score 0.9
    out[0, 1] = [0.11, 0.1, 0.5, 0.52, 0.8, 0.0]          # suppressed by the first (same class)
    out[0, 2] = [0.1, 0.1, 0.5, 0.5, 0.0, 0.7]            # another class: kept
    out[0, 3] = [0.6, 0.6, 1.2, 0.9, 0.2, 0.1]            # below the threshold
    (pred,) = decode(out, meta, [(128, 64)])
    got = [(b.name, round(b.score, 2), round(b.x1), round(b.y1), round(b.x2), round(b.y2))
           for b in pred.boxes]
    assert got == [("a", 0.9, 6, 13, 32, 64), ("b", 0.7, 6, 13, 32, 64)]
