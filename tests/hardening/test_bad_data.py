"""Bad datasets (issue 17, points 1, 4, 5, 10): `train`, `data convert` and `data preview` give one
line naming the file and the entry (image id, annotation index, line, object) and what to do, exit 2,
and leave the sandbox as it was: `train` creates no run folder, `convert` no destination.

Damaged images (truncated JPEG / PNG, formats TensorFlow cannot decode) are refused by the up-front
check before anything starts; malformed annotation entries in every format; `--force` on what
visiontk did not convert. Annotation mistakes already pinned elsewhere (box outside / negative,
unknown class, malformed JSON / XML, missing image: tests/detection/test_sources.py; masks and CSV
rows: tests/dense/test_dense_sources.py) are not repeated here.
"""

from __future__ import annotations

import gzip

import pytest
import yaml

from tests.conftest import TINY, deep_update
from tests.hardening.builders_data import (SOURCES, coco_edit, dataset, idx_bytes, image_bytes, put,
                                           voc_size)
from tests.hardening.harness import BadInput, cases_param, check_bad_input

TRAIN = ["train", "{recipe}"]
CONVERT = ["data", "convert", "{data}", "out", "--to", "yolo"]
PREVIEW = ["data", "preview", "{data}", "--out", "grid.png"]
TRUNCATED = "the file is truncated"


def replace(rel: str, kind: str):
    """An edit: the image file `rel` (in the dataset) becomes `kind` (see image_bytes)."""
    return lambda root: put(root / rel, image_bytes(kind))


def write(rel: str, data):
    return lambda root: put(root / rel, data)


def scenes_recipe(box):
    """A synthetic detection recipe (for a preview of a recipe)."""
    data = deep_update(TINY, {"task": "detection", "model": {"head": {"grid": 4}},
                              "data": {"params": {"train_size": 6, "val_size": 2}}})
    return {"scenes": put(box / "scenes.yaml", yaml.safe_dump(data))}


def fashion_file(name: str, fn):
    """An edit: the Fashion-MNIST file `name` becomes fn(its bytes)."""
    return lambda root: put(root / name, fn((root / name).read_bytes()))


def force(dest: str, *extra: str) -> list:
    return ["data", "convert", "{data}", dest, "--to", "voc", *extra]


def converted(box):
    """A dataset visiontk converted (the marker in it) next to a user's folder and a link to it."""
    from visiontk.data.convert import read_dataset, write_dataset

    names = dataset("coco")(box)
    write_dataset(read_dataset(box / "coco"), box / "done", "yolo")
    put(box / "mine" / "notes.txt", "my own files")
    (box / "link").symlink_to("done", target_is_directory=True)
    return names


CASES = [
    # ---- damaged images, refused by the up-front check (point 4) ----
    BadInput("folder-truncated-jpeg", dataset("image-folder", write("a/5.jpg", image_bytes("truncated-jpg"))),
             TRAIN, ["unreadable image", "a/5.jpg", TRUNCATED, "replace or remove it"]),
    BadInput("folder-truncated-png", dataset("image-folder", replace("b/3.png", "truncated-png")),
             TRAIN, ["unreadable image", "b/3.png", TRUNCATED]),
    BadInput("folder-tiff-named-png", dataset("image-folder", replace("a/0.png", "tiff")),
             TRAIN, ["a/0.png", "TIFF", "convert it to PNG or JPEG"]),
    BadInput("folder-16-bit-bmp", dataset("image-folder", write("a/9.bmp", image_bytes("16-bit-bmp"))),
             TRAIN, ["a/9.bmp", "BMP with 16 bits a pixel"]),
    BadInput("folder-empty-file", dataset("image-folder", write("b/7.jpg", b"")),
             TRAIN, ["b/7.jpg", "the file is empty"]),
    BadInput("coco-truncated-image", dataset("coco", replace("images/train/1.png", "truncated-jpg")),
             TRAIN, ["instances_train.json: image id 2 ('1.png')", "unreadable image", TRUNCATED]),
    BadInput("coco-truncated-image-convert", dataset("coco", replace("images/train/2.png", "truncated-png")),
             CONVERT, ["image id 3", "2.png", TRUNCATED]),
    BadInput("yolo-truncated-image", dataset("yolo", replace("images/train/0.png", "truncated-jpg")),
             TRAIN, ["images/train/0.png", TRUNCATED]),
    BadInput("yolo-truncated-image-preview", dataset("yolo", replace("images/train/3.png", "truncated-png")),
             PREVIEW + ["--no-verify"], ["images/train/3.png", TRUNCATED]),
    BadInput("voc-truncated-image", dataset("voc", replace("JPEGImages/2.png", "truncated-jpg")),
             TRAIN, ["Annotations/2.xml", "JPEGImages/2.png", TRUNCATED]),
    BadInput("masks-truncated-image", dataset("mask-folder", replace("images/1.png", "truncated-jpg")),
             TRAIN, ["unreadable image", "images/1.png", TRUNCATED]),
    BadInput("masks-truncated-mask", dataset("mask-folder", replace("masks/2.png", "truncated-png")),
             TRAIN, ["unreadable mask", "masks/2.png", TRUNCATED]),
    BadInput("csv-truncated-image", dataset("csv-counts", replace("imgs/2.png", "truncated-jpg")),
             TRAIN, ["counts.csv line 4", "imgs/2.png", TRUNCATED]),
    # ---- malformed annotation entries: file, entry, what to do (point 5) ----
    BadInput("coco-width-wide",
             dataset("coco", coco_edit(lambda d: d["images"][0].__setitem__("width", "wide"))),
             TRAIN, ["instances_train.json: image id 1 ('0.png')", "'width' must be a whole number",
                     "'wide'", "fix the entry"]),
    BadInput("coco-height-nan",
             dataset("coco", coco_edit(lambda d: d["images"][2].__setitem__("height", float("nan")))),
             CONVERT, ["image id 3", "'height' must be a whole number", "nan"]),
    BadInput("coco-category-id-list",
             dataset("coco", coco_edit(lambda d: d["categories"][1].__setitem__("id", [2]))),
             TRAIN, ["instances_train.json: categories[1]", "'id' must be a whole number"]),
    BadInput("coco-annotation-not-an-object",
             dataset("coco", coco_edit(lambda d: d["annotations"].insert(0, "box"))),
             CONVERT, ["instances_train.json: annotations[0]", "must be a JSON object"]),
    BadInput("coco-image-id-unhashable",
             dataset("coco", coco_edit(lambda d: d["annotations"][1].__setitem__("image_id", [2]))),
             PREVIEW, ["annotation id 2", "image_id [2] is not in 'images'"]),
    BadInput("coco-duplicate-image-id",
             dataset("coco", coco_edit(lambda d: d["images"][3].__setitem__("id", 1))),
             TRAIN, ["image id 1 ('3.png')", "appears twice"]),
    BadInput("coco-not-utf8", dataset("coco", write("annotations/instances_train.json", b'{"images": "\xff"}')),
             TRAIN, ["instances_train.json", "not a UTF-8 text file"]),
    BadInput("yolo-data-yaml-a-list", dataset("yolo", write("data.yaml", "- circle\n- square\n")),
             TRAIN, ["data.yaml", "expected a mapping with 'names'"]),
    BadInput("yolo-names-with-a-gap", dataset("yolo", write("data.yaml", "names: {0: circle, 2: square}\n")),
             CONVERT, ["data.yaml", "keys must be 0 to 1"]),
    BadInput("yolo-superscript-class", dataset("yolo", write("labels/train/1.txt", "\u00b2 0.5 0.5 0.2 0.2\n")),
             TRAIN, ["labels/train/1.txt line 1", "class id '²' is not an integer"]),
    BadInput("yolo-polygon-line", dataset("yolo", write("labels/train/2.txt", "0 0.1 0.1 0.5 0.1 0.5 0.5\n")),
             CONVERT, ["labels/train/2.txt line 1", "5 fields", "segmentation polygon"]),
    BadInput("yolo-label-not-utf8", dataset("yolo", write("labels/train/0.txt", b"0 0.5 0.5 0.2 0.2 \xe9\n")),
             TRAIN, ["labels/train/0.txt", "not a UTF-8 text file"]),
    BadInput("voc-width-nan", dataset("voc", voc_size("nan")),
             TRAIN, ["Annotations/1.xml", "<size/width> must be a number", "'nan'"]),
    BadInput("voc-width-zero", dataset("voc", voc_size("0")),
             CONVERT, ["Annotations/1.xml", "<size/width> must be a whole number of pixels"]),
    BadInput("voc-entity-bomb", dataset("voc", write("Annotations/0.xml", (
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("abcdefgh", "bcdefghi"))
        + "]><annotation><filename>&i;</filename></annotation>"))),
             CONVERT, ["Annotations/0.xml", "malformed XML"]),
    BadInput("voc-empty-listing", dataset("voc", write("ImageSets/Main/train.txt", "\n\n")),
             TRAIN, ["ImageSets/Main/train.txt", "lists no image ids"]),
    BadInput("csv-count-infinite",
             dataset("csv-counts", write("counts.csv", "image,count\nimgs/0.png,1e999\n")),
             TRAIN, ["counts.csv line 2", "not a finite number"]),
    BadInput("csv-not-utf8", dataset("csv-counts", write("counts.csv", b"image,count\nimgs/\xff.png,1\n")),
             TRAIN, ["counts.csv", "not a UTF-8 text file"]),
    BadInput("csv-field-too-large",
             dataset("csv-counts", write("counts.csv", 'image,count\n"' + "x" * 200_000 + '",1\n')),
             TRAIN, ["counts.csv line", "malformed CSV"]),
    BadInput("fashion-path-nowhere", dataset("fashion-mnist", path="no/such/folder"),
             TRAIN, ["Fashion-MNIST not found", "no/such/folder"]),
    BadInput("fashion-truncated-gz", dataset("fashion-mnist", fashion_file(
        "train-images-idx3-ubyte.gz", lambda data: data[:-20])),
             TRAIN, ["train-images-idx3-ubyte.gz", "damaged or truncated", "fetch the four idx files again"]),
    BadInput("fashion-labels-past-9", dataset("fashion-mnist", fashion_file(
        "train-labels-idx1-ubyte.gz", lambda data: gzip.compress(idx_bytes(range(20))))),
             TRAIN, ["train-labels-idx1-ubyte.gz", "label 19", "labels are 0-9"]),
    BadInput("fashion-missing-file",
             dataset("fashion-mnist", lambda root: (root / "t10k-labels-idx1-ubyte.gz").unlink()),
             TRAIN, ["data.params.path", "lacks t10k-labels-idx1-ubyte"]),
    # ---- data convert --force replaces only a dataset visiontk converted (point 1) ----
    BadInput("convert-force-a-users-folder", converted, force("mine", "--force"),
             ["refusing to replace mine", "not a converted dataset"]),
    BadInput("convert-force-the-working-directory", converted, force(".", "--force"),
             ["it is the working directory"]),
    BadInput("convert-force-a-parent", converted, force("..", "--force"), ["contains the working directory"]),
    BadInput("convert-force-an-empty-path", converted, force("", "--force"), ["destination is empty"]),
    BadInput("convert-force-a-link", converted, force("link", "--force"),
             ["refusing to replace link: it is a symbolic link"]),
    BadInput("convert-without-force-a-converted-dataset", converted, force("done"),
             ["done holds a dataset", "pass --force"]),
    # ---- a split the data lacks says how to make one (point 10) ----
    BadInput("preview-test-split-of-scenes", scenes_recipe,
             ["data", "preview", "{scenes}", "--out", "grid.png", "--split", "test"],
             ["no split 'test'", "to make one, set data.params.test_size"]),
    BadInput("preview-test-split-of-coco", dataset("coco"), PREVIEW + ["--split", "test"],
             ["no split 'test'", "annotations/instances_test.json"]),
]


@pytest.mark.parametrize("case", cases_param(CASES))
def test_bad_data(case, sandbox, capfd):
    check_bad_input(case, sandbox, capfd)


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_the_undamaged_datasets_load(source, sandbox, monkeypatch):
    """So each case fails for its damage, not for its base dataset."""
    from visiontk.data.make import make_source
    from visiontk.recipe import load_recipe

    names = dataset(source)(sandbox)
    monkeypatch.chdir(sandbox)
    src = make_source(load_recipe(names["recipe"]))
    assert len(src.load("train")) >= 3 and src.class_names()
