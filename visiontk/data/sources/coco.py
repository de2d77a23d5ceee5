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

from visiontk.data.annotations import (BoxDataset, ImageRecord, check_box, require_image,
                                       to_split_data, verify_size)
from visiontk.data.base import DataSource
from visiontk.errors import DataError, SourceError
from visiontk.recipe.fields import PositiveInt, Strict
from visiontk.registries import SOURCES

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
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: "
                        f"{exc.msg}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None


def _field(entry: dict, key: str, where: str):
    if not isinstance(entry, dict) or key not in entry:
        raise DataError(f"{where}: missing '{key}'")
    return entry[key]


def read_coco_split(ann_path: Path, root: Path, split: str, *, verify: bool = True):
    """(class names, records) of one COCO JSON file."""
    data = load_json(ann_path)
    if not isinstance(data, dict):
        raise DataError(f"{ann_path}: expected a JSON object with images, annotations, categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DataError(f"{ann_path}: missing or malformed '{key}' (a list is required)")
    cats = []
    for i, c in enumerate(data["categories"]):
        where = f"{ann_path}: categories[{i}]"
        cats.append((int(_field(c, "id", where)), str(_field(c, "name", where))))
    cats.sort()
    cat_index = {cid: k for k, (cid, _) in enumerate(cats)}
    names = [n for _, n in cats]
    folders = [root / "images" / split, root / split, root / "images", root, ann_path.parent]
    images: dict = {}
    objects: dict = {}
    for i, im in enumerate(data["images"]):
        where = f"{ann_path}: images[{i}]"
        iid, name = _field(im, "id", where), str(_field(im, "file_name", where))
        where = f"{ann_path}: image id {iid} ('{name}')"
        path = next((f / name for f in folders if (f / name).is_file()), folders[0] / name)
        require_image(path, where)
        w, h = int(_field(im, "width", where)), int(_field(im, "height", where))
        rec = ImageRecord(path, np.zeros((0, 4)), np.zeros(0, int), w, h, stem=Path(name).stem)
        objects[iid] = []
        if verify:
            verify_size(rec, where)
        images[iid] = rec
    for i, a in enumerate(data["annotations"]):
        aid = a.get("id", i) if isinstance(a, dict) else i
        where = f"{ann_path}: annotation id {aid}"
        iid = _field(a, "image_id", where)
        if iid not in images:
            raise DataError(f"{where}: image_id {iid} is not in 'images'")
        rec = images[iid]
        where += f" (image '{rec.file.name}')"
        if a.get("iscrowd", 0):
            continue
        cid = _field(a, "category_id", where)
        if cid not in cat_index:
            raise DataError(f"{where}: unknown category_id {cid} (categories: "
                            f"{', '.join(str(c) for c, _ in cats)})")
        bbox = _field(a, "bbox", where)
        if not (isinstance(bbox, list) and len(bbox) == 4 and
                all(isinstance(v, (int, float)) for v in bbox)):
            raise DataError(f"{where}: bbox must be [x, y, width, height] (4 numbers), got {bbox!r}")
        x, y, bw, bh = map(float, bbox)
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
            out = BoxDataset(names)
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
    verify: bool = True          # read every image header: sizes checked, bad files named up front
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
    def dataset(self) -> BoxDataset:
        if self._ds is None:
            self._ds = self.read()
        return self._ds

    def class_names(self):
        return list(self.dataset.class_names)

    def splits(self):
        return tuple(s for s in SPLITS if s in self.dataset.splits)

    def load(self, split):
        self.check_split(split)
        return to_split_data(self.dataset.splits[split], self.cfg.max_objects)


@SOURCES.register("coco")
class CocoSource(BoxFolderSource):
    name = "coco"
    Config = CocoConfig

    def read(self):
        return read_coco(self.cfg.path, verify=self.cfg.verify)
