"""`data.crops`: a source with boxes becomes a classification source of its objects' crops, cut
exactly as the detector's second stage (`BoxCrop`) cuts its boxes; jitter in training only;
deterministic per seed; clear errors where it cannot apply."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import TINY, deep_update


def _recipe(tmp_path, crops=None, **extra):
    from visiontk.recipe import load_recipe

    data = deep_update(TINY, {
        "model": {"input_shape": [16, 16, 3]},
        "data": {"params": {"train_size": 12, "val_size": 8, "max_objects": 3, "image_size": [48, 48]},
                 "crops": crops if crops is not None else {"margin": 1.2, "jitter": 0.2}},
        "output": str(tmp_path / "run"), **extra})
    return load_recipe(data=data)


def test_numpy_crops_are_the_box_crop_layers_pixels():
    from visiontk.data.box_crops import crop_boxes
    from visiontk.layers import BoxCrop

    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (40, 56, 3)).astype(np.float32)
    boxes = np.concatenate([rng.uniform(0.1, 0.9, (5, 2)), rng.uniform(0.05, 0.8, (5, 2))], -1)
    boxes = boxes.astype(np.float32)
    got = crop_boxes(image, boxes, 12, 1.3)
    want = np.asarray(BoxCrop(12, 1.3)([image[None], boxes[None]]))[0]      # (K, 12, 12, 3)
    assert got.shape == (5, 12, 12, 3)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-2)


def test_every_object_becomes_one_labelled_crop_and_only_training_boxes_move(tmp_path):
    from visiontk.data.make import make_source
    from visiontk.data.box_crops import crop_boxes

    recipe = _recipe(tmp_path)
    source = make_source(recipe)
    inner = source.inner
    assert source.class_names() == inner.class_names() and source.provides == ("label",)
    for split in ("train", "val"):
        scenes, crops = inner.load(split), source.load(split)
        classes = scenes.annotations["classes"]
        assert len(crops) == int((classes >= 0).sum()) > 0
        np.testing.assert_array_equal(crops.annotations["label"], classes[classes >= 0])
        assert crops.images.shape[1:] == (16, 16, 3) and crops.images.dtype == np.uint8
    # validation crops: the true boxes, exactly
    scenes, crops = inner.load("val"), source.load("val")
    b = scenes.annotations["boxes"][0][scenes.annotations["classes"][0] >= 0]
    cxcywh = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0],
                       b[:, 3] - b[:, 1]], -1)
    want = np.clip(crop_boxes(scenes.images[0], cxcywh, 16, 1.2) + 0.5, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(crops.images[:len(b)], want)
    # training crops: jittered (not the true boxes' pixels), the same again for the same seed
    train = source.load("train")
    scenes = inner.load("train")
    b = scenes.annotations["boxes"][0][scenes.annotations["classes"][0] >= 0]
    still = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0],
                      b[:, 3] - b[:, 1]], -1)
    exact = np.clip(crop_boxes(scenes.images[0], still, 16, 1.2) + 0.5, 0, 255).astype(np.uint8)
    assert not np.array_equal(train.images[:len(b)], exact)
    again = make_source(_recipe(tmp_path)).load("train")
    np.testing.assert_array_equal(train.images, again.images)
    # copies: each object twice, jittered apart
    twice = make_source(_recipe(tmp_path, {"jitter": 0.2, "copies": 2})).load("train")
    assert len(twice) == 2 * len(train)


def test_crops_train_a_classifier(tmp_path):
    from visiontk.train.loop import train

    recipe = _recipe(tmp_path)
    result = train(recipe, echo=lambda *_: None)
    assert "accuracy" in result.metrics["val"]


def test_crops_are_refused_where_they_cannot_apply(tmp_path):
    from visiontk.data.make import make_source
    from visiontk.errors import DataError, RecipeError
    from visiontk.recipe import load_recipe

    data = deep_update(TINY, {"task": "counting", "data": {"crops": {}},
                              "output": str(tmp_path / "r")})
    with pytest.raises(RecipeError, match="data.crops"):
        load_recipe(data=data)
    data = deep_update(TINY, {"output": str(tmp_path / "r")})
    data["data"] = {"source": "fashion-mnist", "crops": {}}        # photographs, no boxes
    with pytest.raises(DataError, match="provides no boxes"):
        make_source(load_recipe(data=data))


def test_crops_of_a_coco_folder_are_those_of_its_source(tmp_path):
    """A file-based source (a COCO folder written from the synthetic scenes, PNG: lossless) gives
    the same crops as the scenes in memory."""
    from visiontk.data.make import make_source
    from visiontk.data.convert import read_recipe_dataset, write_dataset
    from visiontk.recipe import load_recipe

    scenes = _recipe(tmp_path, {"margin": 1.2, "jitter": 0.0})
    plain = scenes.model_copy(deep=True)
    plain.data.crops = None                                   # the scenes themselves, written out
    folder = write_dataset(read_recipe_dataset(plain), tmp_path / "coco", "coco")
    data = deep_update(TINY, {"model": {"input_shape": [16, 16, 3]},
                              "output": str(tmp_path / "run2")})
    data["data"] = {"source": "coco", "params": {"path": str(folder)},
                    "crops": {"margin": 1.2, "jitter": 0.0}}
    from_files = make_source(load_recipe(data=data))
    in_memory = make_source(scenes)
    assert from_files.class_names() == in_memory.class_names()
    for split in ("train", "val"):
        a, b = from_files.load(split), in_memory.load(split)
        np.testing.assert_array_equal(a.annotations["label"], b.annotations["label"])
        # COCO stores boxes in pixels (floats): a rounding step apart at most
        assert np.abs(a.images.astype(int) - b.images.astype(int)).max() <= 1
