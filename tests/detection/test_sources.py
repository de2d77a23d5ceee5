"""COCO / YOLO / VOC: the same scenes in each format give the same training targets; converters
round-trip; bad annotations give one error naming the file and the entry, and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY, deep_update
from visiontk.data.convert import read_dataset, read_recipe_dataset, write_dataset
from visiontk.errors import DataError

SCENES = deep_update(TINY, {"task": "detection", "model": {"input_shape": [64, 64, 3],
                                                           "head": {"grid": 4, "boxes_per_cell": 2}},
                            "data": {"params": {"train_size": 10, "val_size": 4, "max_objects": 4}}})


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    from visiontk.recipe import load_recipe

    root = tmp_path_factory.mktemp("formats")
    scenes = read_recipe_dataset(load_recipe(data=SCENES))
    for fmt in ("coco", "yolo", "voc"):
        write_dataset(scenes, root / fmt, fmt)
    return root, scenes


def _targets(fmt, path):
    from visiontk.data.make import make_source
    from visiontk.data.pipeline import build_dataset
    from visiontk.recipe import load_recipe
    from visiontk.tasks.base import make_task

    data = deep_update(SCENES, {"data": {"source": fmt}})
    if path is not None:
        data["data"]["params"] = {"path": str(path)}
    recipe = load_recipe(data=data)
    source = make_source(recipe)
    task = make_task(recipe, source)
    out = {}
    for split in ("train", "val"):
        ds = build_dataset(source.load(split), task, recipe, training=False, batch_size=64)
        images, targets = next(iter(ds))
        out[split] = (images.numpy(), targets.numpy())
    return source.class_names(), out


def test_same_scenes_same_targets_in_every_format(datasets):
    root, scenes = datasets
    names, reference = _targets("synthetic-scenes", None)
    assert reference["train"][1][..., 0].sum() > 10             # scenes hold objects
    for fmt in ("coco", "yolo", "voc"):
        got_names, got = _targets(fmt, root / fmt)
        assert got_names == names, fmt
        for split in ("train", "val"):
            np.testing.assert_array_equal(got[split][0], reference[split][0], err_msg=fmt)   # PNG: lossless
            np.testing.assert_allclose(got[split][1], reference[split][1], atol=1e-4, err_msg=fmt)


@pytest.mark.parametrize("chain", [("coco", "yolo", "voc", "coco"), ("voc", "yolo", "coco")])
def test_converters_round_trip(datasets, tmp_path, chain):
    root, scenes = datasets
    ds = read_dataset(root / chain[0])
    for i, fmt in enumerate(chain[1:]):
        write_dataset(ds, tmp_path / f"{i}_{fmt}", fmt)
        ds = read_dataset(tmp_path / f"{i}_{fmt}")              # format detected from the layout
    assert ds.class_names == scenes.class_names
    for split in scenes.splits:
        a, b = scenes.splits[split], ds.splits[split]
        assert len(a) == len(b)
        for ra, rb in zip(a, b):
            order_a, order_b = np.lexsort(ra.boxes.T), np.lexsort(rb.boxes.T)
            np.testing.assert_allclose(rb.boxes[order_b], ra.boxes[order_a], atol=2e-5)
            np.testing.assert_array_equal(rb.classes[order_b], ra.classes[order_a])


# ---- bad annotations: (format, corruption, words the message must contain) ----------------------

def _coco_edit(root: Path, fn):
    path = root / "annotations" / "instances_train.json"
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def _set_first_bbox(value):
    return lambda d: d["annotations"][0].__setitem__("bbox", value)


def _yolo_label(root: Path) -> Path:
    return next(p for p in sorted((root / "labels" / "train").glob("*.txt")) if p.read_text().strip())


def _yolo_write_line(line):
    def edit(root):
        _yolo_label(root).write_text(line + "\n")
    return edit


def _voc_xml(root: Path) -> Path:
    return next(p for p in sorted((root / "Annotations").glob("*.xml")) if "<object>" in p.read_text())


def _voc_sub(old, new):
    def edit(root):
        p = _voc_xml(root)
        text = p.read_text()
        import re

        p.write_text(re.sub(old, new, text, count=1))
    return edit


def _remove_first_image(sub):
    def edit(root):
        next(iter(sorted((root / sub).glob("*.png")))).unlink()
    return edit


BAD = {
    "coco-outside": ("coco", lambda r: _coco_edit(r, _set_first_bbox([50, 50, 40, 10])),
                     ["instances_train.json", "annotation id 1", "outside"]),
    "coco-negative": ("coco", lambda r: _coco_edit(r, _set_first_bbox([10, 10, -5, 10])),
                      ["instances_train.json", "annotation id 1", "negative width"]),
    "coco-class": ("coco", lambda r: _coco_edit(r, lambda d: d["annotations"][0].__setitem__("category_id", 99)),
                   ["instances_train.json", "annotation id 1", "unknown category_id 99"]),
    "coco-image": ("coco", _remove_first_image("images/train"),
                   ["instances_train.json", "image id 1", "image file not found"]),
    "coco-json": ("coco", lambda r: (r / "annotations" / "instances_train.json").write_text('{"images": [\n  {"id": 1,,}'),
                  ["instances_train.json", "malformed JSON at line 2"]),
    "yolo-outside": ("yolo", _yolo_write_line("0 0.95 0.5 0.3 0.2"), [".txt line 1", "outside"]),
    "yolo-negative": ("yolo", _yolo_write_line("0 0.5 0.5 -0.1 0.2"), [".txt line 1", "negative width"]),
    "yolo-class": ("yolo", _yolo_write_line("7 0.5 0.5 0.1 0.2"), [".txt line 1", "unknown class id 7"]),
    "yolo-image": ("yolo", lambda r: (r / "labels" / "train" / "ghost.txt").write_text("0 0.5 0.5 0.1 0.1\n"),
                   ["ghost.txt", "image file not found"]),
    "yolo-line": ("yolo", _yolo_write_line("0 0.5 0.5"), [".txt line 1", "5 fields"]),
    "yolo-number": ("yolo", _yolo_write_line("0 0.5 abc 0.1 0.2"),
                    [".txt line 1", "must be numbers", "'0.5 abc 0.1 0.2'"]),
    "voc-outside": ("voc", _voc_sub(r"<xmax>[^<]*</xmax>", "<xmax>80</xmax>"), [".xml object 1", "outside"]),
    "voc-negative": ("voc", _voc_sub(r"<xmax>[^<]*</xmax>", "<xmax>0</xmax>"), [".xml object 1", "negative width"]),
    "voc-class": ("voc", _voc_sub(r"<name>[^<]*</name>", "<name>dragon</name>"),
                  [".xml object 1", "unknown class 'dragon'"]),
    "voc-image": ("voc", _remove_first_image("JPEGImages"), [".xml", "image file not found"]),
    "voc-xml": ("voc", _voc_sub(r"</annotation>", "</annotaton>"), [".xml", "malformed XML at line"]),
}


def _corrupted_copy(datasets, tmp_path, fmt, corrupt) -> Path:
    import shutil

    root = tmp_path / fmt
    shutil.copytree(datasets[0] / fmt, root)
    corrupt(root)
    return root


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_annotation_is_named_and_nothing_is_written(datasets, tmp_path, case):
    fmt, corrupt, words = BAD[case]
    root = _corrupted_copy(datasets, tmp_path, fmt, corrupt)
    with pytest.raises(DataError) as err:
        write_dataset(read_dataset(root, fmt), tmp_path / "out", "yolo" if fmt != "yolo" else "coco")
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == [fmt]        # no temporary folder left either


def _coco_val_negative(root: Path):
    path = root / "annotations" / "instances_val.json"
    data = json.loads(path.read_text())
    data["annotations"][1]["bbox"] = [10, 10, -5, 10]
    path.write_text(json.dumps(data))


# the same checks through `visiontk train` with the folder as the recipe's data (val split included)
TRAIN_BAD = {
    "coco-val-negative": ("coco", _coco_val_negative,
                          ["instances_val.json", "annotation id 2", "negative width"]),
    "yolo-number": BAD["yolo-number"],
}


@pytest.mark.parametrize("case", sorted(TRAIN_BAD))
def test_bad_annotation_through_visiontk_train_exits_2_and_writes_no_run(datasets, tmp_path, case):
    import yaml

    from tests.conftest import run_cli

    fmt, corrupt, words = TRAIN_BAD[case]
    root = _corrupted_copy(datasets, tmp_path, fmt, corrupt)
    data = {**SCENES, "data": {"source": fmt, "params": {"path": str(root)}},
            "output": str(tmp_path / "run")}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(data))
    r = run_cli("train", tmp_path / "recipe.yaml")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert not (tmp_path / "run").exists()
