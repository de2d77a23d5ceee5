"""The fashion-scenes source: deterministic scenes whose boxes, masks and counts agree with the
pixels, photographs never shared between splits, and a cache that survives damage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from visiontk.data.base import head_of
from visiontk.data.sources.fashion_mnist import SYSTEM_DIR, locate, read_part
from visiontk.data.sources.fashion_scenes import FashionScenes, FashionScenesConfig
from visiontk.errors import SourceError

pytestmark = pytest.mark.skipif(not Path(SYSTEM_DIR).is_dir(),
                                reason=f"Fashion-MNIST is not installed ({SYSTEM_DIR}); "
                                       f"apt-get install dataset-fashion-mnist")

SIZES = {"train_size": 60, "val_size": 16, "test_size": 16}


def scenes(shape=(64, 64, 3), seed=0, **kw) -> FashionScenes:
    params = {**SIZES, "cache": False, **kw}
    return FashionScenes(FashionScenesConfig(**params), input_shape=shape, seed=seed)


def assert_same(a, b):
    np.testing.assert_array_equal(a.images, b.images)
    assert a.annotations.keys() == b.annotations.keys()
    for k in a.annotations:
        np.testing.assert_array_equal(a.annotations[k], b.annotations[k], err_msg=k)


@pytest.fixture(scope="module")
def train():
    src = scenes()
    return src, src.load("train")


def test_deterministic_per_seed(train):
    assert_same(scenes().load("train"), train[1])
    assert not np.array_equal(scenes(seed=1).load("val").images, scenes().load("val").images)


def test_head_generates_the_prefix_of_load(train):
    head = scenes(train_size=1000).head("train", 7)     # scene i does not depend on the split size
    assert len(head) == 7
    assert_same(head, head_of(train[1], 7))


def test_boxes_masks_and_counts_agree_with_the_pixels(train):
    src, data = train
    ann = data.annotations
    n, h, w = ann["instances"].shape
    assert data.images.shape == (n, h, w, 3) and data.images.dtype == np.uint8
    valid = ann["classes"] >= 0
    np.testing.assert_array_equal(valid.sum(1), ann["count"])
    assert ann["count"].max() <= src.cfg.max_objects and ann["count"].sum() > n   # not all empty
    for i in range(n):
        inst, k = ann["instances"][i], int(ann["count"][i])
        assert inst.max() == k and not valid[i, k:].any() and valid[i, :k].all()
        lut = np.concatenate([[0], ann["classes"][i, :k] + 1])
        np.testing.assert_array_equal(ann["mask"][i], lut[inst])       # semantic = instance's class
        areas = []
        for j in range(k):
            rows, cols = np.nonzero(inst == j + 1)
            tight = np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]) / (w, h, w, h)
            np.testing.assert_allclose(ann["boxes"][i, j], tight, atol=1e-6, err_msg=f"scene {i}")
            areas.append((tight[2] - tight[0]) * (tight[3] - tight[1]))
        assert areas == sorted(areas, reverse=True)                      # largest first
        if k:
            assert ann["label"][i] == ann["classes"][i, 0]
            np.testing.assert_array_equal(ann["box"][i], ann["boxes"][i, 0])


def test_no_photograph_in_two_splits(train):
    src = scenes()
    used = {s: src.photo_indices(s) for s in ("train", "val", "test")}
    for split, ids in used.items():
        ann = (train[1] if split == "train" else src.load(split)).annotations
        np.testing.assert_array_equal(ids >= 0, ann["classes"] >= 0)
        labels = read_part(locate(), src.photo_part(split))[1]
        np.testing.assert_array_equal(labels[ids[ids >= 0]], ann["classes"][ids >= 0])
    train_ids, val_ids, test_ids = (set(used[s][used[s] >= 0].tolist()) for s in used)
    assert max(train_ids) < 55000                            # fashion-mnist's val share unused
    assert max(val_ids) < 5000 <= min(test_ids)              # halves of the test file
    rule = src.extra_info()["split_rule"]
    assert "training images 0-54999" in rule and "test images 0-4999" in rule \
        and "test images 5000-9999" in rule


def test_one_garment_variant_and_class_subset():
    one = scenes(min_objects=1, max_objects=1, classes=[7, 3]).load("val")
    assert (one.annotations["count"] == 1).all()
    assert set(one.annotations["label"].tolist()) <= {0, 1}
    assert scenes(classes=[7, 3]).class_names() == ["sneaker", "dress"]


def test_cache_hit_and_a_damaged_cache_is_rebuilt(tmp_path, train):
    src = scenes(cache=True, cache_dir=str(tmp_path / "c"))
    first = src.load("train")
    assert_same(first, train[1])
    files = list((tmp_path / "c").iterdir())
    assert [f.suffix for f in files] == [".npz"]                # nothing else, no temporary left
    with np.load(files[0]) as z:
        meta = json.loads(str(z["meta"]))
    assert "no photograph appears in two splits" in meta["split_rule"]
    again = scenes(cache=True, cache_dir=str(tmp_path / "c"))
    assert_same(again.load("train"), first)
    assert_same(again.head("train", 5), head_of(first, 5))         # head from the cache
    np.testing.assert_array_equal(again.photo_indices("train"), src.photo_indices("train"))
    files[0].write_bytes(files[0].read_bytes()[: files[0].stat().st_size // 2])
    assert_same(scenes(cache=True, cache_dir=str(tmp_path / "c")).load("train"), first)
    with np.load(files[0]) as z:                                           # rewritten whole
        assert len(z["images"]) == SIZES["train_size"]


def test_grey_and_colour():
    grey = scenes(shape=(32, 48, 1)).head("val", 4)
    assert grey.images.shape == (4, 32, 48, 1) and grey.annotations["mask"].shape == (4, 32, 48)
    plain = scenes(shape=(32, 32, 3), tint=False).head("val", 4).images
    assert (plain[..., 0] == plain[..., 1]).all() and (plain[..., 1] == plain[..., 2]).all()
    tinted = scenes(shape=(32, 32, 3)).head("val", 4).images
    assert (tinted[..., 0] != tinted[..., 1]).any()
    assert scenes(image_size=(40, 24)).head("val", 2).images.shape == (2, 40, 24, 3)


@pytest.mark.parametrize("overrides, expected", [
    (["data.params.min_objects=5", "data.params.max_objects=2"],
     "min_objects (5) is larger than max_objects (2)"),
    (["data.params.size_range=[0.5, 0.1]"], "size_range must be (low, high)"),
    (["data.params.size_range=[0, 0.1]"], "size_range must be (low, high)"),
    (["data.params.clutter=2"], "must be between 0.0 and 1.0"),
    (["data.params.classes=[3, 3]"], "classes must name each class once"),
    (["data.params.classes=[10]"], "must be between 0 and 9"),
])
def test_config_errors_are_one_line(tmp_path, overrides, expected):
    from tests.recipe.test_recipe_errors import GOOD, error_of, write

    assert expected in error_of(write(tmp_path, GOOD), ["data.source=fashion-scenes", *overrides])


def test_missing_fashion_mnist_names_the_package(tmp_path):
    with pytest.raises(SourceError) as info:
        scenes(path=str(tmp_path / "nowhere")).load("train")
    msg = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in msg and "data.params.path" in msg
    assert "\n" not in msg and "download" not in msg
