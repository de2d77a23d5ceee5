"""Mosaic, scale (crop / pad), mixup and HSV keep the boxes right: a filled rectangle drawn at a known
box is transformed with known parameters, and the transformed box must be the bounding box of the
drawn pixels in the output (within a pixel) and map back to the original box; then the tf.data stage
(close_mosaic switch, determinism, shards, file lists) and a tiny detection run."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_recipes import all_recipes
from visiontk.data import box_augment as ba
from visiontk.data.base import SplitData
from visiontk.data.pipeline import build_dataset

H, W = 32, 48           # not square: x and y must not be mixed up


def scene(box_px, index=0, n=3):
    """4 black images (N rows of padding), one white rectangle at `box_px` (x1, y1, x2, y2 pixels,
    integers) in image `index` with its box in row 0 (class 1)."""
    images = np.zeros((4, H, W, 3), np.float32)
    boxes = np.zeros((4, n, 4), np.float32)
    classes = -np.ones((4, n), np.int32)
    x1, y1, x2, y2 = box_px
    images[index, y1:y2, x1:x2] = 1.0
    boxes[index, 0] = np.array(box_px, np.float32) / [W, H, W, H]
    classes[index, 0] = 1
    return images, boxes, classes


def drawn_box(image):
    """Bounding box (x1, y1, x2, y2 pixels) of the drawn pixels (white; the fill is grey 0.45)."""
    ys, xs = np.nonzero(image[..., 0] > 0.5)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


MOSAIC = [[0, 1, 2, 3]]                  # the quadrants' images
SINGLE = ([[0, 0, 0, 0]], [[W, H]], [[W, H]])   # sources, split, canvas of image 0 alone


def run_place(images, boxes, classes, sources, split, canvas, centre, scale, min_visible=0.25):
    f32 = lambda v: tf.constant(v, tf.float32)     # noqa: E731
    out = ba.place(tf.constant(images), tf.constant(sources), tf.constant(boxes),
                   tf.constant(classes), f32(split), f32(canvas), f32(centre), f32([scale]),
                   min_visible)
    return [t.numpy()[0] for t in out]


def offset_of(split, canvas, quadrant):
    offsets, _ = ba.mosaic_layout(tf.constant(split, tf.float32), tf.constant(canvas, tf.float32),
                                  (H, W))
    return offsets.numpy()[0, quadrant]


def check_exact(image, boxes, classes, box_px, offset, centre, scale):
    """The one kept box is the drawn pixels' box and maps back to the source box."""
    assert (classes >= 0).sum() == 1
    got = boxes[classes >= 0][0] * [W, H, W, H]
    np.testing.assert_allclose(got, drawn_box(image), atol=1.0)
    canvas = ba.to_canvas(got[None], np.array([centre]), np.array([scale]), (H, W))[0]
    np.testing.assert_allclose(canvas - np.tile(offset, 2), box_px, atol=1e-3)


@pytest.mark.parametrize("quadrant", [0, 1, 2, 3])
@pytest.mark.parametrize("scale", [1.0, 0.6, 1.3])
def test_mosaic_maps_a_drawn_box_exactly(quadrant, scale):
    rng = np.random.default_rng(quadrant * 10 + int(scale * 10))
    for _ in range(3):
        # an object within 10 px (x) and 8 px (y) of its image's corner at the split point, which
        # lies within 3 px of the canvas centre: in view at every zoom tested
        w_, h_ = rng.integers(4, 9), rng.integers(4, 7)
        x1 = rng.integers(0, 10 - w_ + 1) + (W - 10 if quadrant in (0, 2) else 0)
        y1 = rng.integers(0, 8 - h_ + 1) + (H - 8 if quadrant in (0, 1) else 0)
        box_px = (int(x1), int(y1), int(x1 + w_), int(y1 + h_))
        images, boxes, classes = scene(box_px, quadrant)
        split = rng.uniform([W - 3, H - 3], [W + 3, H + 3])[None]
        canvas = [[2 * W, 2 * H]]
        image, b, c, _ = run_place(images, boxes, classes, MOSAIC, split, canvas, [[W, H]], scale,
                                   min_visible=0.0)
        assert image.shape == (H, W, 3) and b.shape == (12, 4)
        offset = offset_of(split, canvas, quadrant)
        check_exact(image, b, c, box_px, offset, (W, H), scale)


@pytest.mark.parametrize("scale,u", [(0.6, (0.2, 0.9)), (1.0, (0.5, 0.5)), (1.5, (0.1, 0.7)),
                                     (1.8, (0.6, 0.4))])
def test_scale_crop_and_pad_map_a_drawn_box_exactly(scale, u):
    box_px = (20, 13, 27, 19)                          # near the centre: in view in these windows
    images, boxes, classes = scene(box_px, 0)
    # the window centre anywhere between W / 2s and W - W / 2s (as make_box_augment draws it)
    lo = np.array([W, H]) / (2 * scale)
    centre = lo + np.array(u) * (np.array([W, H]) - 2 * lo)
    image, b, c, _ = run_place(images, boxes, classes, *SINGLE, [centre], scale)
    check_exact(image, b, c, box_px, (0, 0), centre, scale)
    if scale < 1:           # zoomed out: the whole image is inside the output, the rest is fill
        assert np.isclose(image, ba.FILL, atol=1e-6).mean() > 0.5


def test_boxes_are_clipped_to_the_output_and_dropped_below_min_visible():
    box_px = (30, 8, 46, 16)              # a 16 px wide box
    images, boxes, classes = scene(box_px, 0)
    # at scale 1 with the window centred 8 px left of the image centre, the output shows image
    # x -8..40: 10 of the box's 16 px stay (62.5 %), at output x 38..48
    for min_visible, kept in [(0.5, True), (0.7, False)]:
        image, b, c, visible = run_place(images, boxes, classes, *SINGLE, [[W / 2 - 8, H / 2]], 1.0,
                                         min_visible)
        if kept:
            np.testing.assert_allclose(b[0] * [W, H, W, H], [38, 8, 48, 16], atol=1e-4)   # clipped
            np.testing.assert_allclose(b[0] * [W, H, W, H], drawn_box(image), atol=1.0)
            assert visible[0] == pytest.approx(10 * 8)
        else:
            assert c[0] == -1 and not b[0].any()
        assert (c[1:] == -1).all() and not b[1:].any()            # padding stays padding


def test_mosaic_cuts_a_box_at_its_quadrant():
    """Image 0 (top-left of the split point) reaches past the canvas' left and top edges: a box there
    keeps only its part inside the quadrant, although the output window shows the rest."""
    images, boxes, classes = scene((12, 10, 24, 20), 0)
    split, canvas = [[28.0, 20.0]], [[2 * W, 2 * H]]   # image 0 spans canvas x -20..28, y -12..20
    window = [[W / 2 - 10, H / 2 - 6]]                # the output shows canvas x -10..38, y -6..26
    image, b, c, _ = run_place(images, boxes, classes, MOSAIC, split, canvas, window, 1.0,
                               min_visible=0.25)
    # canvas box -8, -2, 4, 8 cut to 0, 0, 4, 8 (32 of 120 px2), +10, +6 in the output
    np.testing.assert_allclose(b[0] * [W, H, W, H], [10, 6, 14, 14], atol=1e-4)
    np.testing.assert_allclose(b[0] * [W, H, W, H], drawn_box(image), atol=1.0)
    assert np.allclose(image[:, :10], ba.FILL) and np.allclose(image[:6], ba.FILL)   # off the canvas
    _, _, c2, _ = run_place(images, boxes, classes, MOSAIC, split, canvas, window, 1.0,
                            min_visible=0.3)
    assert c[0] == 1 and (c2 == -1).all()


def test_compact_keeps_the_largest_in_order_with_padding_last():
    boxes = tf.constant([[[0, 0, .1, .1], [0, 0, 0, 0], [0, 0, .5, .5], [0, 0, .2, .2], [0, 0, .3, .3]]])
    classes = tf.constant([[3, -1, 1, 7, 4]])
    score = tf.constant([[1.0, 9.0, 25.0, 4.0, 9.0]])
    b, c = ba.compact(boxes, classes, score, 3)
    assert c.numpy().tolist() == [[1, 7, 4]]                 # the smallest (3) left out, order kept
    b, c = ba.compact(boxes[:, :3], classes[:, :3], score[:, :3], 3)
    assert c.numpy().tolist() == [[3, 1, -1]] and not b.numpy()[0, 2].any()


def test_mixup_blends_and_joins_the_boxes():
    images = tf.constant(np.stack([np.zeros((H, W, 3)), np.ones((H, W, 3))]), tf.float32)
    boxes = tf.constant([[[0, 0, .5, .5], [0, 0, 0, 0]], [[.5, .5, .6, .6], [.1, .1, .2, .3]]])
    classes = tf.constant([[0, -1], [1, 2]])
    out, b, c = ba.mixup(images, boxes, classes, tf.constant([1, 0]), tf.constant([0.25, 1.0]))
    np.testing.assert_allclose(out.numpy()[0], 0.75)
    np.testing.assert_allclose(out.numpy()[1], 1.0)                  # ratio 1: unchanged
    # image 0: its box and the partner's two, cut to N_max = 2 keeping the largest
    assert c.numpy().tolist() == [[0, 2], [1, 2]]
    np.testing.assert_allclose(b.numpy()[0, 1], [.1, .1, .2, .3])


def test_hsv_keeps_boxes_and_values_in_range():
    from visiontk.recipe.schema import Augment

    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(size=(8, H, W, 3)), tf.float32)
    ann = {"boxes": tf.constant(rng.uniform(size=(8, 3, 4)), tf.float32),
           "classes": tf.constant(rng.integers(-1, 3, (8, 3)))}
    aug = ba.make_box_augment(Augment(hsv=(0.1, 0.7, 0.9)), (H, W, 3))
    out, ann2 = aug(images, ann, tf.constant(7, tf.int64))
    assert 0.0 <= out.numpy().min() and out.numpy().max() <= 1.0
    assert np.abs(out.numpy() - images.numpy()).mean() > 0.02
    for k in ann:
        np.testing.assert_array_equal(ann2[k].numpy(), ann[k].numpy())
    ba.box_switch().assign(False)                 # close_mosaic leaves the colour jitter on
    try:
        np.testing.assert_array_equal(aug(images, ann, tf.constant(7, tf.int64))[0].numpy(), out.numpy())
    finally:
        ba.box_switch().assign(True)
    # one channel: only the value gain, a factor per image
    grey = tf.fill((2, 4, 4, 1), 0.5)
    out = ba.hsv_jitter(grey, tf.constant([[0.3, 0.1, 1.5], [0.3, 0.1, 0.5]]))
    np.testing.assert_allclose(out.numpy()[:, 0, 0, 0], [0.75, 0.25])
    # colour: hue shift by a third of the circle turns red into green
    red = tf.constant([[[[1.0, 0.0, 0.0]]]])
    np.testing.assert_allclose(ba.hsv_jitter(red, tf.constant([[1 / 3, 1.0, 1.0]])).numpy().ravel(),
                               [0, 1, 0], atol=1e-5)
    # saturation 0: the grey level; value 0.5: half; a tiny hue shift keeps the grey level
    colour = tf.constant([[[[0.6, 0.4, 0.2]]]])
    np.testing.assert_allclose(ba.hsv_jitter(colour, tf.constant([[0.0, 0.0, 0.5]])).numpy().ravel(),
                               [0.2] * 3, atol=1e-6)
    turned = ba.hsv_jitter(colour, tf.constant([[0.015, 1.0, 1.0]])).numpy().ravel()
    assert turned.mean() == pytest.approx(0.4, abs=1e-6) and not np.allclose(turned, [0.6, 0.4, 0.2])


class _DetTask:
    needs = ("boxes", "classes")
    geometry = ("boxes",)
    encodes_batches = False

    def encode(self, image, ann):
        return image, ann

    def annotation_keys(self):
        return set(self.needs) | set(self.geometry)


def _scenes(n=32, size=(H, W)):
    from visiontk.data.sources.synthetic import SyntheticConfig, SyntheticScenes

    src = SyntheticScenes(SyntheticConfig(train_size=n, val_size=4, max_objects=3, texture=0.0),
                          input_shape=(*size, 3))
    data = src.load("train")
    data.annotations = {k: data.annotations[k] for k in ("boxes", "classes")}
    return data


def _epoch(ds):
    images, boxes, classes = [], [], []
    for x, a in ds:
        images.append(x.numpy())
        boxes.append(a["boxes"].numpy())
        classes.append(a["classes"].numpy())
    return np.concatenate(images), np.concatenate(boxes), np.concatenate(classes)


def test_stage_is_deterministic_switchable_and_keeps_shapes(tiny_recipe):
    r = tiny_recipe({"model": {"input_shape": [H, W, 3]},
                     "data": {"augment": {"mosaic": 1.0, "scale": 0.3, "mixup": 0.5}}})
    data = _scenes()
    original = data.images.astype(np.float32) / 255.0
    ds = build_dataset(data, _DetTask(), r, training=True, batch_size=8)
    assert int(ds.cardinality()) == 4                 # known length: Keras restarts it each epoch
    first, second = _epoch(ds), _epoch(ds)
    again = _epoch(build_dataset(data, _DetTask(), r, training=True, batch_size=8))
    np.testing.assert_array_equal(first[0], again[0])                 # the seed decides everything
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], second[0])                   # new draws every epoch
    images, boxes, classes = first
    assert images.shape == (32, H, W, 3) and boxes.shape == (32, 3, 4)
    assert 0 <= images.min() and images.max() <= 1
    valid = classes >= 0
    assert valid.any() and not boxes[~valid].any()
    # padding rows at the end of each list; kept boxes inside the image, not empty
    assert all(list(v) == sorted(v, reverse=True) for v in valid)
    b = boxes[valid]
    assert (b >= 0).all() and (b <= 1).all() and ((b[:, 2:] - b[:, :2]) * [W, H] >= ba.MIN_PIXELS).all()
    # mosaic: no training image is a source image
    assert not any(np.abs(original - x).max(axis=(1, 2, 3)).min() < 1e-6 for x in images)

    switch = ba.box_switch()
    try:
        switch.assign(False)                          # what CloseMosaic does for the last epochs
        images, boxes, classes = _epoch(ds)
        # every image is a source image again, with its own boxes
        for x, bx in zip(images, boxes):
            i = int(np.abs(original - x).max(axis=(1, 2, 3)).argmin())
            np.testing.assert_allclose(x, original[i], atol=1e-6)
            np.testing.assert_allclose(bx, data.annotations["boxes"][i], atol=1e-6)
    finally:
        switch.assign(True)
    assert not np.array_equal(_epoch(ds)[0][:1], images[:1])


def test_close_mosaic_callback_flips_the_switch_at_epochs_minus_n(tiny_recipe):
    r = tiny_recipe({"task": "detection", "train": {"epochs": 5},
                     "data": {"augment": {"mosaic": 0.5, "close_mosaic": 2}}})
    cb, = ba.schedule_callbacks(r)
    states = []
    for epoch in range(5):
        cb.on_epoch_begin(epoch)
        states.append(bool(ba.box_switch().numpy()))
    assert states == [True, True, True, False, False]
    cb.on_train_end()
    assert bool(ba.box_switch().numpy())
    assert ba.schedule_callbacks(tiny_recipe({"task": "detection", "data": {"augment": {
        "close_mosaic": 2}}})) == []                            # nothing to close
    assert ba.schedule_callbacks(tiny_recipe({"task": "detection", "data": {"augment": {
        "scale": 0.2}}})) == []                                 # close_mosaic 0: never closed


def test_file_lists_and_worker_shards(tiny_recipe, tmp_path):
    """Files decoded by source_dataset, then mosaics of each worker's own images."""
    import cv2

    data = _scenes(12, size=(40, 40))
    paths = []
    for i, img in enumerate(data.images):
        paths.append(str(tmp_path / f"{i}.png"))
        cv2.imwrite(paths[-1], img[..., ::-1])
    files = SplitData(paths, data.annotations)
    r = tiny_recipe({"model": {"input_shape": [H, W, 3]},
                     "data": {"augment": {"mosaic": 1.0, "scale": 0.5, "min_visible": 0.1}}})
    for shard in (None, (2, 1)):
        images, boxes, classes = _epoch(build_dataset(files, _DetTask(), r, training=True,
                                                      batch_size=2, shard=shard))
        assert len(images) == (12 if shard is None else 6) and (classes >= 0).any()
        assert images.shape[1:] == (H, W, 3) and boxes.shape[1:] == (3, 4)


def test_tasks_that_do_not_list_them_refuse_them(tiny_recipe, tmp_path):
    from visiontk.errors import RecipeError
    from visiontk.recipe import load_recipe
    from visiontk.train.session import prepare

    with pytest.raises(RecipeError, match="data.augment.mosaic: not supported for task "
                                          "'classification'.*it supports: flip"):
        prepare(tiny_recipe({"data": {"augment": {"mosaic": 0.5}}}), build=False)
    with pytest.raises(RecipeError, match="data.augment.hsv: not supported"):
        prepare(tiny_recipe({"data": {"augment": {"hsv": [0, 0, 0.4]}}}), build=False)
    prepare(tiny_recipe({"data": {"augment": {"hsv": [0, 0, 0], "min_visible": 0.5,
                                              "close_mosaic": 3}}}), build=False)   # all off
    with pytest.raises(RecipeError, match=r"close_mosaic: 3 is not below train.epochs \(3\), so "
                                          "mosaic, scale would never run"):
        prepare(tiny_recipe({**all_recipes()["detection"], "train": {"epochs": 3}, "data": {
            "augment": {"mosaic": 0.5, "scale": 0.2, "close_mosaic": 3}}}), build=False)
    path = tmp_path / "r.yaml"
    path.write_text("task: detection\nmodel:\n  backbone: {name: lenet5}\n  input_shape: [32, 32, 3]\n"
                    "data:\n  augment:\n    mosaic: 1.0\n    hsv: [0.015, 1.7, 0.4]\n")
    with pytest.raises(RecipeError, match=r"data.augment.hsv.1: must be between 0.0 and 1.0.*line 8"):
        load_recipe(path)


@pytest.mark.slow
def test_tiny_detection_run_with_mosaic_scale_and_hsv(tmp_path):
    from visiontk.recipe import load_recipe
    from visiontk.train.loop import train

    data = copy.deepcopy(all_recipes()["detection"])
    data["data"]["augment"].update({"mosaic": 1.0, "scale": 0.5, "hsv": [0.015, 0.7, 0.4],
                                    "mixup": 0.1, "close_mosaic": 1})
    data["train"]["epochs"] = 2
    data["output"] = str(tmp_path / "run")
    result = train(load_recipe(data=data), echo=lambda *_: None)
    assert result.metrics["train"]["epochs_run"] == 2 and "map50" in result.metrics["val"]
    assert bool(ba.box_switch().numpy())                      # on again after the run
