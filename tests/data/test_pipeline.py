"""The tf.data pipeline: sizes, channels, letterbox, and augmentation that moves annotations."""

from __future__ import annotations

import numpy as np

from visiontk.data.base import SplitData
from visiontk.data.pipeline import build_dataset, source_dataset
from visiontk.recipe.schema import Augment


def test_resize_channels_and_letterbox_boxes():
    img = np.zeros((2, 20, 40, 1), np.uint8)
    img[:, 5:15, 10:30] = 255                       # a bright box at x 10-30, y 5-15 of 40x20
    box = np.array([[0.25, 0.25, 0.75, 0.75]] * 2, np.float32)
    data = SplitData(img, {"box": box})
    (x, ann), = source_dataset(data, input_shape=(40, 40, 3), resize="pad").take(1)
    x, b = x.numpy(), ann["box"].numpy()
    assert x.shape == (40, 40, 3) and np.allclose(x[..., 0], x[..., 2])     # grey -> RGB
    ys, xs = np.nonzero(x[..., 0] > 0.5)
    # the box follows the letterbox: image rows 10-30 of 40 hold the 20-row original
    np.testing.assert_allclose(b, [10 / 40, 15 / 40, 30 / 40, 25 / 40], atol=1e-6)
    assert abs(ys.min() - 15) <= 1 and abs(ys.max() - 24) <= 1 and abs(xs.min() - 10) <= 1


class _Task:
    needs = ("box",)
    geometry = ("box", "mask")

    def encode(self, image, ann):
        return image, ann


def test_flip_and_translate_keep_box_and_mask_on_the_object(tiny_recipe):
    from visiontk.data.sources.synthetic import SyntheticConfig, SyntheticScenes

    r = tiny_recipe({"data": {"augment": {"flip": "both", "translate": 0.15}}})
    src = SyntheticScenes(SyntheticConfig(train_size=32, val_size=4, max_objects=1, texture=0.0),
                          input_shape=(32, 32, 3))
    data = src.load("train")
    data.annotations = {k: data.annotations[k] for k in ("box", "mask")}
    ds = build_dataset(data, _Task(), r, training=True, batch_size=8)
    checked = 0
    for images, ann in ds:
        for box, mask in zip(ann["box"].numpy(), ann["mask"].numpy()):
            ys, xs = np.nonzero(mask)
            if len(xs) < 10 or box[0] <= 0 or box[1] <= 0 or box[2] >= 1 or box[3] >= 1:
                continue                             # clipped at the border: bounds are not tight
            got = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]) / 32
            np.testing.assert_allclose(got, box, atol=2.5 / 32)
            checked += 1
    assert checked >= 10
    assert Augment(flip="both").flip == "both"


def test_training_pipeline_augments_and_validation_does_not(tiny_recipe):
    """One device, no sharding: the training batches are flipped/translated, validation ones are not
    (a regression test: augmentation once ran only under multi-worker sharding)."""
    from visiontk.data.sources.synthetic import SyntheticConfig, SyntheticScenes

    r = tiny_recipe({"data": {"augment": {"flip": "horizontal", "translate": 0.2}}})
    src = SyntheticScenes(SyntheticConfig(train_size=32, val_size=4, max_objects=1),
                          input_shape=(32, 32, 3))
    data = src.load("train")
    data.annotations = {k: data.annotations[k] for k in ("box", "mask")}
    original = data.images.astype(np.float32) / 255.0

    def images(training):
        return np.concatenate([x.numpy() for x, _ in build_dataset(data, _Task(), r, training=training,
                                                                     batch_size=8)])

    val = images(False)
    np.testing.assert_allclose(val, original, atol=1e-6)            # validation: untouched, in order
    train = images(True)
    # training batches are shuffled: count those equal to some source image
    exact = sum(bool(np.any(np.all(np.abs(original - t).reshape(len(original), -1) < 1e-6, axis=1)))
                for t in train)
    assert exact < len(train) // 2, f"{exact} of {len(train)} training images were not augmented"
