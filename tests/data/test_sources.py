"""Data sources: determinism, the shared annotation schema, and errors that name the file."""

from __future__ import annotations

import gzip

import cv2
import numpy as np
import pytest

from visiontk.data.sources.fashion_mnist import FashionConfig, FashionMNIST
from visiontk.data.sources.image_folder import FolderConfig, ImageFolder
from visiontk.data.sources.synthetic import SyntheticConfig, SyntheticScenes
from visiontk.errors import DataError, SourceError


def synthetic(**kw):
    return SyntheticScenes(SyntheticConfig(**{"train_size": 12, "val_size": 6, **kw}),
                           input_shape=(48, 48, 3), seed=kw.pop("seed", 0) if "seed" in kw else 0)


def test_synthetic_is_deterministic_and_consistent():
    a, b = synthetic().load("train"), synthetic().load("train")
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images[:6], synthetic().load("val").images)
    ann = a.annotations
    assert a.images.shape == (12, 48, 48, 3) and a.images.dtype == np.uint8
    valid = ann["classes"] >= 0
    np.testing.assert_array_equal(valid.sum(1), ann["count"])
    np.testing.assert_array_equal(ann["classes"][:, 0], ann["label"])
    np.testing.assert_array_equal(ann["boxes"][:, 0], ann["box"])
    assert (ann["boxes"][valid] >= 0).all() and (ann["boxes"][valid] <= 1).all()
    assert (ann["boxes"][valid][:, 2:] > ann["boxes"][valid][:, :2]).all()
    for i in range(12):      # the largest object's class is painted in the mask (1-based)
        assert (ann["mask"][i] == ann["label"][i] + 1).any()
    assert ann["identity"].max() < SyntheticConfig().colors * 3


def test_synthetic_config_errors():
    with pytest.raises(ValueError, match="did you mean 'circle'"):
        SyntheticConfig(classes=["circel"])
    with pytest.raises(ValueError, match="min_objects"):
        SyntheticConfig(min_objects=5, max_objects=2)


def write_idx(path, arr):
    arr = np.asarray(arr, np.uint8)
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.tobytes())


@pytest.fixture
def fashion_dir(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 10)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28)))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return tmp_path


def test_fashion_mnist_reads_idx_splits_and_subsets(fashion_dir):
    src = FashionMNIST(FashionConfig(path=str(fashion_dir), val_size=10), input_shape=(28, 28, 1))
    assert src.splits() == ("train", "val", "test")
    tr, va, te = src.load("train"), src.load("val"), src.load("test")
    assert (len(tr), len(va), len(te)) == (20, 10, 10)
    assert tr.images.shape == (20, 28, 28, 1)
    sub = FashionMNIST(FashionConfig(path=str(fashion_dir), val_size=0, classes=[7, 3]),
                       input_shape=(28, 28, 1))
    d = sub.load("train")
    assert sub.class_names() == ["sneaker", "dress"]
    assert set(d.annotations["label"]) == {0, 1}
    np.testing.assert_array_equal(np.where(d.annotations["label"] == 0, 7, 3), d.annotations["identity"])


def test_fashion_mnist_missing_and_corrupt(tmp_path, fashion_dir):
    src = FashionMNIST(FashionConfig(path=str(tmp_path / "nowhere")))
    with pytest.raises(SourceError, match="apt-get install dataset-fashion-mnist"):
        src.load("train")
    header = b"\x00\x00\x08\x03" + b"".join(d.to_bytes(4, "big") for d in (30, 28, 28))
    (fashion_dir / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + b"\x00" * 100))
    with pytest.raises(DataError, match="truncated"):
        FashionMNIST(FashionConfig(path=str(fashion_dir))).load("train")


def make_folder(root, classes=("cat", "dog"), n=5):
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(root / c / f"{i}.png"), np.full((20, 24, 3), 40 * i, np.uint8))
    return root


def test_image_folder_split_and_errors(tmp_path):
    root = make_folder(tmp_path / "imgs")
    src = ImageFolder(FolderConfig(path=str(root), val_fraction=0.2), input_shape=(16, 16, 3))
    assert src.class_names() == ["cat", "dog"]
    tr, va = src.load("train"), src.load("val")
    assert len(tr) + len(va) == 10 and len(va) == 2
    assert not set(tr.images) & set(va.images)
    (root / "empty").mkdir()
    with pytest.raises(DataError, match="class folder .*empty.* has no images"):
        ImageFolder(FolderConfig(path=str(root)), input_shape=(16, 16, 3)).load("train")
    (root / "empty").rmdir()
    (root / "cat" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"unreadable image: .*broken\.jpg"):
        ImageFolder(FolderConfig(path=str(root)), input_shape=(16, 16, 3)).load("train")
    with pytest.raises(SourceError, match="folder not found"):
        ImageFolder(FolderConfig(path=str(tmp_path / "missing"))).load("train")


def test_image_folder_with_train_val_test_subfolders(tmp_path):
    root = tmp_path / "imgs"
    make_folder(root / "train", n=4)
    make_folder(root / "val", n=2)
    make_folder(root / "test", n=1)
    src = ImageFolder(FolderConfig(path=str(root), val_fraction=0.5), input_shape=(16, 16, 3))
    assert src.class_names() == ["cat", "dog"]          # the classes, not the split folders
    assert src.splits() == ("train", "val", "test")
    for split, n in (("train", 4), ("val", 2), ("test", 1)):
        d = src.load(split)
        assert len(d) == 2 * n, split                    # the folders decide, not val_fraction
        assert all(f"/{split}/" in p for p in d.images)
        np.testing.assert_array_equal(d.annotations["label"], [0] * n + [1] * n)
    make_folder(root / "val", classes=("bird",), n=1)
    with pytest.raises(DataError, match=r"class folder\(s\) bird are not in"):
        ImageFolder(FolderConfig(path=str(root)), input_shape=(16, 16, 3)).load("val")


def test_synthetic_head_is_the_first_scenes_of_the_split():
    src = synthetic(train_size=30)
    full, head = src.load("train"), src.head("train", 7)
    np.testing.assert_array_equal(head.images, full.images[:7])
    for key, value in full.annotations.items():
        np.testing.assert_array_equal(head.annotations[key], value[:7], err_msg=key)
    assert len(src.head("val", 100)) == 6                       # no more than the split holds


def test_a_missing_split_says_how_to_make_one(tmp_path, fashion_dir):
    with pytest.raises(SourceError, match=r"no split 'test'; it has: train, val; to make one, set "
                                          r"data\.params\.test_size"):
        synthetic().load("test")
    root = make_folder(tmp_path / "imgs")
    with pytest.raises(SourceError, match=r"to make one, arrange the images as .*/train/<class>/"):
        ImageFolder(FolderConfig(path=str(root)), input_shape=(16, 16, 3)).load("test")
    src = FashionMNIST(FashionConfig(path=str(fashion_dir), val_size=0), input_shape=(28, 28, 1))
    with pytest.raises(SourceError, match=r"to make one, set data\.params\.val_size above 0"):
        src.load("val")


def _idx_bytes(arr):
    arr = np.asarray(arr, np.uint8)
    return bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape) + arr.tobytes()


def _gz(data):
    # mtime=0: a gzip header holds the time, and pytest-xdist workers must collect identical ids.
    return gzip.compress(data, mtime=0)


@pytest.mark.parametrize("name, data, message", [
    ("train-images-idx3-ubyte.gz", _gz(_idx_bytes(np.zeros((30, 28, 28))))[:-30],
     r"train-images-idx3-ubyte\.gz: .*damaged or truncated"),
    ("train-images-idx3-ubyte.gz", _gz(_idx_bytes(np.zeros((30, 28, 28))))[:10] + b"\xff" * 40,
     r"train-images-idx3-ubyte\.gz: .*damaged or truncated"),
    ("train-images-idx3-ubyte.gz", b"plain bytes, not gzip", r"train-images-idx3-ubyte\.gz: .*damaged"),
    ("train-images-idx3-ubyte.gz", _gz(b"\x00\x00\x08\x09"), r"damaged idx header"),
    ("train-labels-idx1-ubyte.gz", _gz(_idx_bytes(np.full(30, 12))), r"label 12 at index 0; .*0-9"),
    ("train-labels-idx1-ubyte.gz", _gz(_idx_bytes(np.zeros((30, 28, 28)))),
     r"train-labels-idx1-ubyte\.gz: expected N labels"),
], ids=["truncated", "garbage-after-header", "not-gzip", "short-header", "label-out-of-range", "label-count"])
def test_damaged_fashion_mnist_files_are_named(fashion_dir, name, data, message):
    (fashion_dir / name).write_bytes(data)
    with pytest.raises(DataError, match=message):
        FashionMNIST(FashionConfig(path=str(fashion_dir), val_size=10)).load("train")


def test_fashion_mnist_folder_without_some_files_and_too_large_val_size(fashion_dir):
    with pytest.raises(DataError, match=r"val_size \(5000\) leaves no training images: .* holds 30"):
        FashionMNIST(FashionConfig(path=str(fashion_dir))).load("train")
    (fashion_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(SourceError, match=r"lacks t10k-labels-idx1-ubyte"):
        FashionMNIST(FashionConfig(path=str(fashion_dir))).load("test")
