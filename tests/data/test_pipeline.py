"""The tf.data pipeline: sizes, channels, letterbox, and augmentation that moves annotations."""

from __future__ import annotations

import numpy as np
import pytest

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
    encodes_batches = False

    def encode(self, image, ann):
        return image, ann

    def annotation_keys(self):
        return set(self.needs) | set(self.geometry)


class _BatchTask(_Task):
    encodes_batches = True                 # augmentation runs on whole batches


@pytest.mark.parametrize("task", [_Task(), _BatchTask()], ids=["per-example", "per-batch"])
def test_flip_and_translate_keep_box_and_mask_on_the_object(tiny_recipe, task):
    from visiontk.data.sources.synthetic import SyntheticConfig, SyntheticScenes

    r = tiny_recipe({"data": {"augment": {"flip": "both", "translate": 0.15}}})
    src = SyntheticScenes(SyntheticConfig(train_size=32, val_size=4, max_objects=1, texture=0.0),
                          input_shape=(32, 32, 3))
    data = src.load("train")
    data.annotations = {k: data.annotations[k] for k in ("box", "mask")}
    ds = build_dataset(data, task, r, training=True, batch_size=8)
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


def test_batched_augmentation_draws_per_example(tiny_recipe):
    """16 copies of one image in one batch: each copy gets its own flip and shift."""
    r = tiny_recipe({"data": {"augment": {"flip": "horizontal", "translate": 0.2}}})
    img = np.zeros((16, 32, 32, 3), np.uint8)
    img[:, 8:16, 4:12] = 255
    data = SplitData(img, {"box": np.tile([[4 / 32, 8 / 32, 12 / 32, 16 / 32]], (16, 1)).astype("f4"),
                           "mask": (img[..., 0] > 0).astype(np.uint8)})
    (x, ann), = build_dataset(data, _BatchTask(), r, training=True, batch_size=16)
    boxes = np.round(ann["box"].numpy(), 4)
    assert len({tuple(b) for b in boxes}) >= 12                     # shifts drawn per example
    left = (boxes[:, 0] + boxes[:, 2]) / 2 < 0.5                    # the object stayed on the left
    assert 0 < left.sum() < 16                                      # some flipped, some not


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


class _IdTask:
    """Keeps each element's `label` (its index in the split) to see which worker got which element."""

    needs = ("label",)
    geometry = ()

    def encode(self, image, ann):
        return image, ann

    def annotation_keys(self):
        return set(self.needs) | set(self.geometry)


def test_file_lists_are_sharded_by_file_and_each_worker_reads_only_its_files(tiny_recipe, tmp_path):
    """FILE policy (image-folder, COCO, ... sources list files): the workers' shards are disjoint,
    together the whole split, and a worker decodes only its own files."""
    import cv2

    paths = []
    for i in range(10):
        paths.append(str(tmp_path / f"{i}.png"))
        cv2.imwrite(paths[-1], np.full((8, 8, 3), 20 * i, np.uint8))
    data = SplitData(paths, {"label": np.arange(10)})
    r = tiny_recipe()

    def worker_labels(index):
        labels = []
        for x, ann in build_dataset(data, _IdTask(), r, training=True, batch_size=5, shard=(2, index)):
            np.testing.assert_allclose(x.numpy()[:, 0, 0, 0] * 255, 20 * ann["label"].numpy(), atol=1)
            labels += ann["label"].numpy().tolist()
        return labels

    first, second = worker_labels(0), worker_labels(1)
    assert len(first) == len(second) == 5 and sorted(first + second) == list(range(10))
    for i in second:                              # worker 0 never opens worker 1's files
        (tmp_path / f"{i}.png").unlink()
    assert sorted(worker_labels(0)) == sorted(first)


def test_in_memory_data_is_sharded_after_the_shared_shuffle(tiny_recipe):
    """DATA policy (arrays): every worker shuffles with the same seed, then keeps every other
    element, so at each step the workers' batches together are the single-device global batch."""
    data = SplitData(np.zeros((32, 4, 4, 3), np.uint8), {"label": np.arange(32)})
    r = tiny_recipe()

    def batches(batch_size, shard=None):
        return [sorted(ann["label"].numpy().tolist()) for _, ann in
                build_dataset(data, _IdTask(), r, training=True, batch_size=batch_size, shard=shard)]

    whole, first, second = batches(8), batches(4, (2, 0)), batches(4, (2, 1))
    assert sum(whole, []) != list(range(32))       # shuffled: the check below is not trivial
    assert len(whole) == len(first) == len(second) == 4
    for g, a, b in zip(whole, first, second):
        assert not set(a) & set(b) and sorted(a + b) == g
