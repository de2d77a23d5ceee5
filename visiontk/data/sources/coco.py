"""`coco`: COCO detection JSON (`instances_<split>.json`) + images; reader, writer and source.

Layout (what `visiontk data convert --to coco` writes; the reader also accepts the official
`instances_train2017.json` naming and images next to the annotations folder):

    ROOT/annotations/instances_train.json   (instances_val.json, instances_test.json)
    ROOT/images/train/*.png                 (or ROOT/train/, ROOT/images/, ROOT/)

Boxes are COCO `bbox` = [x, y, width, height] in pixels; class order = categories sorted by id.
Crowd annotations (`iscrowd: 1`) are skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from visiontk.data.annotations import (SPLIT_HINTS, BoxDataset, ImageRecord, as_int, check_box, read_text,
                                       require_image, shown, to_split_data, verify_sizes)
from visiontk.data.base import DataSource, dataset_reading
from visiontk.errors import DataError, SourceError
from visiontk.recipe.fields import PositiveInt, Strict
from visiontk.catalog import SOURCES

SPLITS = ("train", "val", "test")


def annotation_file(root: Path, split: str) -> Optional[Path]:
    """ROOT/annotations/instances_<split>.json, or instances_<split>*.json (e.g. train2017)."""
    for folder in (root / "annotations", root):
        exact = folder / f"instances_{split}.json"
        if exact.is_file():
            return exact
        found = sorted(folder.glob(f"instances_{split}*.json"))
        if found:
            return found[0]
    return None


def load_json(path: Path):
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: "
                        f"{exc.msg}") from None
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply to be a COCO annotation file") from None


def _field(entry, key: str, where: str, kind: str):
    if not isinstance(entry, dict):
        raise DataError(f"{where}: must be a JSON object with {kind}, got {shown(entry)}; fix the "
                        f"entry")
    if key not in entry:
        raise DataError(f"{where}: missing '{key}' (an entry holds {kind}); add it")
    return entry[key]


def _id(value, where: str, what: str):
    """An id: a whole number or a string (COCO writes numbers; some tools write strings)."""
    if isinstance(value, str):
        return value
    return as_int(value, where, what)


_IMAGE = "id, file_name, width, height"
_ANNOTATION = "image_id, category_id, bbox"
_CATEGORY = "id, name"


def _categories(data: dict, ann_path: Path) -> list:
    cats, seen = [], {}
    for i, c in enumerate(data["categories"]):
        where = f"{ann_path}: categories[{i}]"
        cid = _id(_field(c, "id", where, _CATEGORY), where, "id")
        name = _field(c, "name", where, _CATEGORY)
        if not isinstance(name, (str, int, float)) or isinstance(name, bool) or str(name) == "":
            raise DataError(f"{where}: 'name' must be a non-empty string, got {shown(name)}")
        if cid in seen:
            raise DataError(f"{where}: category id {cid!r} repeats categories[{seen[cid]}]; ids must "
                            f"be unique")
        seen[cid] = i
        cats.append((cid, str(name)))
    try:
        cats.sort()
    except TypeError:        # numbers and strings mixed
        raise DataError(f"{ann_path}: category ids mix numbers and strings; use one kind") from None
    return cats


def read_coco_split(ann_path: Path, root: Path, split: str, *, verify: bool = True):
    """(class names, records) of one COCO JSON file."""
    data = load_json(ann_path)
    if not isinstance(data, dict):
        raise DataError(f"{ann_path}: expected a JSON object with images, annotations, categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DataError(f"{ann_path}: missing or malformed '{key}' (a list is required)")
    cats = _categories(data, ann_path)
    cat_index = {cid: k for k, (cid, _) in enumerate(cats)}
    names = [n for _, n in cats]
    folders = [root / "images" / split, root / split, root / "images", root, ann_path.parent]
    images: dict = {}
    objects: dict = {}
    wheres: list = []
    for i, im in enumerate(data["images"]):
        where = f"{ann_path}: images[{i}]"
        iid = _id(_field(im, "id", where, _IMAGE), where, "id")
        name = _field(im, "file_name", where, _IMAGE)
        if not isinstance(name, str) or not name.strip() or "\0" in name:
            raise DataError(f"{where}: 'file_name' must be a file name, got {shown(name)}")
        where = f"{ann_path}: image id {iid!r} ('{name}')"
        if iid in images:
            raise DataError(f"{where}: image id {iid!r} appears twice in 'images'; ids must be unique")
        path = next((f / name for f in folders if (f / name).is_file()), folders[0] / name)
        require_image(path, where)
        w = as_int(_field(im, "width", where, _IMAGE), where, "width", minimum=1)
        h = as_int(_field(im, "height", where, _IMAGE), where, "height", minimum=1)
        images[iid] = ImageRecord(path, np.zeros((0, 4)), np.zeros(0, int), w, h,
                                  stem=Path(name).stem)
        objects[iid] = []
        wheres.append(where)
    if verify:
        verify_sizes(list(images.values()), wheres)
    for i, a in enumerate(data["annotations"]):
        where = f"{ann_path}: annotation id {shown(a['id'], 30)}" if isinstance(a, dict) and "id" in a \
            else f"{ann_path}: annotations[{i}]"
        iid = _field(a, "image_id", where, _ANNOTATION)
        if not isinstance(iid, (int, float, str)) or isinstance(iid, bool) or iid not in images:
            raise DataError(f"{where}: image_id {shown(iid)} is not in 'images'")
        rec = images[iid]
        where += f" (image '{rec.file.name}')"
        crowd = a.get("iscrowd", 0)
        if crowd not in (0, 1):      # True / False compare equal to 1 / 0
            raise DataError(f"{where}: 'iscrowd' must be 0 or 1, got {shown(crowd)}")
        if crowd:
            continue
        cid = _field(a, "category_id", where, _ANNOTATION)
        if not isinstance(cid, (int, float, str)) or isinstance(cid, bool) or cid not in cat_index:
            raise DataError(f"{where}: unknown category_id {shown(cid)} (categories: "
                            f"{', '.join(str(c) for c, _ in cats)})")
        bbox = _field(a, "bbox", where, _ANNOTATION)
        if not (isinstance(bbox, list) and len(bbox) == 4 and
                all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)):
            raise DataError(f"{where}: bbox must be [x, y, width, height] (4 numbers), got "
                            f"{shown(bbox)}")
        try:
            x, y, bw, bh = map(float, bbox)
        except OverflowError:
            raise DataError(f"{where}: bbox {shown(bbox)} holds a number too large") from None
        x1, y1, x2, y2 = check_box(x, y, x + bw, y + bh, rec.width, rec.height, where)
        objects[iid].append((cat_index[cid], x1 / rec.width, y1 / rec.height, x2 / rec.width,
                             y2 / rec.height))
    records = []
    for iid, rec in images.items():
        objs = objects[iid]
        if objs:
            arr = np.array(objs, np.float64)
            rec.boxes, rec.classes = arr[:, 1:], arr[:, 0].astype(int)
        records.append(rec)
    return names, records


def read_coco(root: str | Path, *, verify: bool = True) -> BoxDataset:
    """Every split found under `root` (train required).

    Example:
        >>> ds = read_coco("data/shapes_coco")                  # doctest: +SKIP
        >>> ds.class_names, {s: len(r) for s, r in ds.splits.items()}  # doctest: +SKIP
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise SourceError(f"data.params.path: folder not found: {root}")
    out = None
    for split in SPLITS:
        path = annotation_file(root, split)
        if path is None:
            continue
        names, records = read_coco_split(path, root, split, verify=verify)
        if out is None:
            out = BoxDataset(names, format="coco", root=root)
        elif names != out.class_names:
            raise DataError(f"{path}: categories {names} differ from the train split's "
                            f"{out.class_names}; every split needs the same categories")
        out.splits[split] = records
    if out is None or "train" not in out.splits:
        raise SourceError(f"{root}: no COCO annotations for the train split (expected "
                          f"{root}/annotations/instances_train.json)")
    return out


def write_coco(ds: BoxDataset, dst: Path, save_image) -> None:
    """Write `ds` as ROOT/annotations/instances_<split>.json + ROOT/images/<split>/.

    `save_image(record, folder) -> file name` copies or encodes the image (see data/convert.py)."""
    cats = [{"id": k + 1, "name": n, "supercategory": "object"} for k, n in enumerate(ds.class_names)]
    for split, records in ds.splits.items():
        images, anns = [], []
        for i, rec in enumerate(records):
            name = save_image(rec, dst / "images" / split)
            images.append({"id": i + 1, "file_name": name, "width": rec.width, "height": rec.height})
            for b, c in zip(rec.boxes, rec.classes):
                x1, y1 = b[0] * rec.width, b[1] * rec.height
                bw, bh = (b[2] - b[0]) * rec.width, (b[3] - b[1]) * rec.height
                anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(c) + 1,
                             "bbox": [float(x1), float(y1), float(bw), float(bh)],
                             "area": float(bw * bh), "iscrowd": 0})
        path = dst / "annotations" / f"instances_{split}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}),
                        encoding="utf-8")


class CocoConfig(Strict):
    path: str
    verify: bool = True          # decode every image as training will: sizes checked, damaged files named
    max_objects: Optional[PositiveInt] = None   # boxes kept per image (default: the most in a split)


class BoxFolderSource(DataSource):
    """Shared by coco / yolo / voc: read the whole dataset once, serve its splits."""

    provides = ("boxes", "classes", "count", "box", "label")

    def __init__(self, cfg, **kw):
        super().__init__(cfg, **kw)
        self._ds: BoxDataset | None = None

    def read(self) -> BoxDataset:
        raise NotImplementedError

    @property
    @dataset_reading()
    def dataset(self) -> BoxDataset:
        if self._ds is None:
            self._ds = self.read()
        return self._ds

    def class_names(self):
        return list(self.dataset.class_names)

    def splits(self):
        return tuple(s for s in SPLITS if s in self.dataset.splits)

    def split_hint(self, split: str) -> str:
        return SPLIT_HINTS[self.name].format(root=Path(self.cfg.path).expanduser(), split=split)

    def load(self, split):
        self.check_split(split)
        return to_split_data(self.dataset.splits[split], self.cfg.max_objects)


@SOURCES.register("coco")
class CocoSource(BoxFolderSource):
    name = "coco"
    Config = CocoConfig

    def read(self):
        return read_coco(self.cfg.path, verify=self.cfg.verify)
