"""COCO image and category ids for `visiontk predict --format coco`, so that the results JSON scores
against the dataset's own annotation file (pycocotools' `loadRes` matches detections to ground
truth by `image_id` and `category_id`).

An image listed in a COCO annotation file gets its id there: the file is found from the image's
place, ROOT/images/<split>/NAME or ROOT/<split>/NAME (the layouts `visiontk data convert --to coco`
writes and COCO 2017 uses) with ROOT/annotations/instances_<split>.json. Any other image gets its
file stem as id, a number when the stem is one (000000139.jpg -> 139, as COCO names its files).
Categories map the model's class names to the dataset's category ids by name; without a dataset, or
when the names differ, class i is category i + 1 (what `visiontk data convert` writes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from visiontk.errors import DataError, SourceError


def is_coco_root(folder: Path) -> bool:
    """A folder with annotations/instances_*.json (a COCO dataset root)."""
    return any((folder / "annotations").glob("instances_*.json"))


def _annotation_file(root: Path, split: str) -> Optional[Path]:
    from visiontk.data.sources.coco import annotation_file

    return annotation_file(root, split)


class CocoIndex:
    """One COCO annotation file: its images (resolved to files as the coco data source does), their
    ids, and the categories {name: id}."""

    def __init__(self, ann_path: Path, root: Path, split: str):
        try:
            data = json.loads(ann_path.read_text(encoding="utf-8"))
            entries = [(im["id"], im["file_name"]) for im in data["images"]]
            self.categories = {str(c["name"]): c["id"] for c in data["categories"]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{ann_path}: not a readable COCO annotation file "
                            f"({type(exc).__name__}: {exc}); check it with `visiontk data preview "
                            f"{root} --out grid.png`") from None
        folders = [root / "images" / split, root / split, root / "images", root, ann_path.parent]
        self.path, self.ids = ann_path, {}
        for image_id, name in entries:
            found = next((f / name for f in folders if (f / name).is_file()), folders[0] / name)
            self.ids[found.resolve()] = image_id

    @classmethod
    def of_split(cls, root: Path, split: str) -> "CocoIndex":
        """The index of ROOT's split (a SourceError naming the splits there when it has none)."""
        path = _annotation_file(root, split)
        if path is None:
            have = sorted(p.name for p in (root / "annotations").glob("instances_*.json"))
            raise SourceError(f"{root}: a COCO dataset folder without a '{split}' split "
                              f"(annotations/instances_{split}.json); it has {', '.join(have)}: "
                              f"pass --split with one of them")
        return cls(path, root, split)

    def images(self):
        """(path, image id) in the file's order."""
        return iter(self.ids.items())


class CocoIds:
    """Image ids of image files (from the annotation file of their folder, cached per file) and
    the category id of each of the model's classes."""

    def __init__(self, class_names: list):
        self.class_names = list(class_names)
        self._indexes: dict = {}          # annotation file -> CocoIndex
        self._categories: dict | None = None

    def use(self, index: "CocoIndex") -> None:
        """Take the ids of an index already read (a COCO dataset folder given as SOURCE)."""
        self._indexes.setdefault(index.path, index)
        if self._categories is None:
            self._categories = index.categories

    def image_id(self, path: str, known=None):
        """The COCO id of an image file: `known` (its source's), the annotation file's, else its
        stem (as a number when it is one)."""
        if known is not None:
            return known
        p = Path(path)
        index = self._index_for(p)
        if index is not None:
            found = index.ids.get(p.resolve())
            if found is not None:
                return found
        return int(p.stem) if p.stem.isdigit() else p.stem

    def _index_for(self, p: Path) -> Optional[CocoIndex]:
        split = p.parent.name
        for root in (p.parent.parent.parent, p.parent.parent):   # ROOT/images/split, ROOT/split
            if not (root / "annotations").is_dir():
                continue
            ann = _annotation_file(root, split)
            if ann is None:
                continue
            if ann not in self._indexes:
                self.use(CocoIndex(ann, root, split))
            return self._indexes[ann]
        return None

    def category_id(self, cls: int):
        """The dataset's category id of class `cls` by name, else cls + 1."""
        cats = self._categories or {}
        if cats and all(n in cats for n in self.class_names) and 0 <= cls < len(self.class_names):
            return cats[self.class_names[cls]]
        return int(cls) + 1
