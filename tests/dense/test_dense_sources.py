"""mask-folder and csv-counts: loading, and one clear error naming the file for each kind of bad data."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from visiontk.errors import DataError
from visiontk.recipe import load_recipe

PALETTE = [(255, 0, 0), (0, 255, 0)]


def make_mask_folder(root: Path, n=6, size=(24, 32), palette=False) -> Path:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        img = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
        mask = np.zeros(size, np.uint8)
        mask[2:10, 3:12] = 1
        mask[12:20, 15:30] = 2
        cv2.imwrite(str(root / "images" / f"s{i}.jpg"), img)
        if palette:
            colour = np.array([(0, 0, 0)] + PALETTE, np.uint8)[mask][..., ::-1]   # RGB -> BGR file
            cv2.imwrite(str(root / "masks" / f"s{i}.png"), colour)
        else:
            cv2.imwrite(str(root / "masks" / f"s{i}.png"), mask)
    return root


def source(params, input_shape=(32, 32, 3)):
    from visiontk.data.make import make_source

    recipe = load_recipe(data={"task": "segmentation", "model": {"backbone": {"name": "unet"},
                                                                 "input_shape": list(input_shape)},
                               "data": {"source": "mask-folder", "params": params}})
    return make_source(recipe)


@pytest.mark.parametrize("palette", [False, True])
def test_mask_folder_loads_index_and_palette_masks(tmp_path, palette):
    root = make_mask_folder(tmp_path / "d", palette=palette)
    params = {"path": str(root), "classes": ["cat", "dog"], "val_fraction": 0.34}
    if palette:
        params["palette"] = [list(c) for c in PALETTE]
    src = source(params)
    assert src.splits() == ("train", "val") and src.class_names() == ["cat", "dog"]
    train, val = src.load("train"), src.load("val")
    assert len(train) == 4 and len(val) == 2
    assert train.images.shape == (4, 24, 32, 3) and train.annotations["mask"].shape == (4, 24, 32)
    m = train.annotations["mask"][0]
    assert m[5, 5] == 1 and m[15, 20] == 2 and m[0, 0] == 0


def test_mask_folder_in_the_pipeline_resizes_masks_with_the_images(tmp_path):
    from visiontk.data.pipeline import build_dataset
    from visiontk.tasks.base import make_task

    root = make_mask_folder(tmp_path / "d", n=4)
    recipe = load_recipe(data={"task": "segmentation", "model": {"backbone": {"name": "unet"},
                                                                 "input_shape": [48, 64, 3]},
                               "data": {"source": "mask-folder",
                                        "params": {"path": str(root), "classes": ["a", "b"]}},
                               "train": {"batch_size": 2}})
    from visiontk.data.make import make_source

    src = make_source(recipe)
    task = make_task(recipe, src)
    x, y = next(iter(build_dataset(src.load("train"), task, recipe, training=True)))
    assert x.shape == (2, 48, 64, 3) and y.shape == (2, 48, 64)
    assert set(np.unique(y.numpy())) == {0, 1, 2}


def test_mask_size_mismatch_names_both_files(tmp_path):
    root = make_mask_folder(tmp_path / "d")
    cv2.imwrite(str(root / "masks" / "s3.png"), np.zeros((10, 10), np.uint8))
    with pytest.raises(DataError, match=r"mask .*s3\.png is 10x10 .* image .*s3\.jpg is 32x24"):
        source({"path": str(root), "classes": ["a", "b"], "val_fraction": 0.0}).load("train")


def test_class_index_out_of_range_names_the_file_and_pixel(tmp_path):
    root = make_mask_folder(tmp_path / "d")
    bad = np.zeros((24, 32), np.uint8)
    bad[4, 7] = 5
    cv2.imwrite(str(root / "masks" / "s1.png"), bad)
    src = source({"path": str(root), "classes": ["a", "b"], "val_fraction": 0.0})
    with pytest.raises(DataError, match=r"s1\.png: class index 5 at pixel \(x=7, y=4\) is out of range"):
        src.load("train")


def test_missing_mask_names_the_image_and_the_expected_mask(tmp_path):
    root = make_mask_folder(tmp_path / "d")
    (root / "masks" / "s2.png").unlink()
    with pytest.raises(DataError, match=r"no mask for image .*s2\.jpg: expected .*masks/s2\.png"):
        source({"path": str(root), "classes": ["a", "b"]}).splits()


def test_colour_outside_the_palette_and_colour_masks_without_palette(tmp_path):
    root = make_mask_folder(tmp_path / "d", palette=True)
    params = {"path": str(root), "classes": ["a", "b"], "val_fraction": 0.0}
    with pytest.raises(DataError, match=r"s0\.png is a colour image; set data\.params\.palette"):
        source(params).load("train")
    odd = cv2.imread(str(root / "masks" / "s0.png"))
    odd[1, 2] = (7, 8, 9)
    cv2.imwrite(str(root / "masks" / "s0.png"), odd)
    params["palette"] = [list(c) for c in PALETTE]
    with pytest.raises(DataError, match=r"s0\.png: colour \[9, 8, 7\] at pixel \(x=2, y=1\)"):
        source(params).load("train")


def test_palette_must_match_the_classes():
    from visiontk.errors import RecipeError

    with pytest.raises(RecipeError, match="palette has 1 colours for 2 classes"):
        source({"path": "x", "classes": ["a", "b"], "palette": [[1, 2, 3]]})


# ---- csv-counts -------------------------------------------------------------------------------

def write_counts(tmp_path, rows, n_images=4):
    img_dir = tmp_path / "imgs"
    img_dir.mkdir(exist_ok=True)
    for i in range(n_images):
        cv2.imwrite(str(img_dir / f"{i}.png"), np.full((20, 20, 3), 40 * i, np.uint8))
    path = tmp_path / "counts.csv"
    path.write_text("image,count\n" + "".join(f"{r}\n" for r in rows))
    return path


def counts_source(path, **params):
    from visiontk.data.make import make_source

    recipe = load_recipe(data={"task": "counting", "model": {"backbone": {"name": "lenet5"},
                                                             "input_shape": [32, 32, 3]},
                               "data": {"source": "csv-counts", "params": {"csv": str(path), **params}}})
    return make_source(recipe)


def test_csv_counts_loads_rows_and_splits(tmp_path):
    path = write_counts(tmp_path, ["imgs/0.png,0", "imgs/1.png,2", "imgs/2.png,3.5", "imgs/3.png,1"])
    src = counts_source(path, val_fraction=0.25)
    train, val = src.load("train"), src.load("val")
    assert len(train) == 3 and len(val) == 1
    everything = sorted(zip(train.images + val.images,
                            list(train.annotations["count"]) + list(val.annotations["count"])))
    assert [c for _, c in everything] == [0.0, 2.0, 3.5, 1.0]
    assert src.class_names() == ["object"]


@pytest.mark.parametrize("row, message", [
    ("imgs/1.png,three", r"counts\.csv line 3: count 'three' is not a number"),
    ("imgs/1.png,-2", r"counts\.csv line 3: count -2 is negative"),
    ("imgs/9.png,1", r"counts\.csv line 3: image not found: .*imgs/9\.png"),
    ("imgs/1.png", r"counts\.csv line 3: expected columns image,count"),
])
def test_bad_csv_rows_name_the_file_and_line(tmp_path, row, message):
    path = write_counts(tmp_path, ["imgs/0.png,1", row])
    with pytest.raises(DataError, match=message):
        counts_source(path).splits()


def test_csv_without_the_header_is_refused(tmp_path):
    path = write_counts(tmp_path, [])
    path.write_text("file,n\nimgs/0.png,1\n")
    with pytest.raises(DataError, match=r"counts\.csv line 1: the header must name the columns image and count"):
        counts_source(path).splits()
