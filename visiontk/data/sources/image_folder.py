"""`image-folder`: one subfolder per class (jpg/png/bmp), split by fraction or by folders.

Layouts accepted:
    path/<class>/*.jpg                      (val taken by `val_fraction`, deterministic from the seed)
    path/train/<class>/*.jpg + path/val/<class>/*.jpg [+ path/test/<class>/*.jpg]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visiontk.data.base import DataSource, SplitData, dataset_reading
from visiontk.errors import DataError, SourceError
from visiontk.recipe.fields import Fraction, Strict
from visiontk.catalog import SOURCES

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


class FolderConfig(Strict):
    path: str
    val_fraction: Fraction = 0.2
    verify: bool = True        # decode every image once up front so a bad file is named at once


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())


@SOURCES.register("image-folder", aliases=("image_folder", "folder"))
class ImageFolder(DataSource):
    name = "image-folder"
    Config = FolderConfig
    provides = ("label", "identity")

    def __init__(self, cfg, **kw):
        super().__init__(cfg, **kw)
        self._files: dict | None = None
        self._names: list[str] = []

    def _root(self) -> Path:
        root = Path(self.cfg.path).expanduser()
        if not root.is_dir():
            raise SourceError(f"data.params.path: folder not found: {root} (expected one subfolder "
                              f"of images per class)")
        return root

    @dataset_reading()
    def _scan(self) -> dict:
        if self._files is not None:
            return self._files
        root = self._root()
        split_dirs = {s: root / s for s in ("train", "val", "test") if (root / s).is_dir()}
        if "train" in split_dirs:
            trees = split_dirs
        else:
            trees = {"all": root}
        names = [p.name for p in _class_dirs(trees.get("train", root))]
        if not names:
            raise SourceError(f"{root}: no class subfolders (expected {root}/<class>/*.jpg)")
        files = {}
        for split, tree in trees.items():
            listed = []
            for idx, name in enumerate(names):
                folder = tree / name
                imgs = _images_in(folder) if folder.is_dir() else []
                if not imgs:
                    raise DataError(f"class folder '{folder}' has no images "
                                    f"({', '.join(EXTENSIONS)}); add some or remove the folder")
                listed += [(str(p), idx) for p in imgs]
            extra = [p.name for p in _class_dirs(tree) if p.name not in names]
            if extra:
                raise DataError(f"{tree}: class folder(s) {', '.join(extra)} are not in "
                                f"{trees.get('train', root)}; the splits must have the same classes")
            files[split] = listed
        if "all" in files:
            rng = np.random.default_rng(self.seed)
            order = rng.permutation(len(files["all"]))
            n_val = int(round(len(order) * self.cfg.val_fraction))
            files = {"train": [files["all"][i] for i in sorted(order[n_val:])],
                     "val": [files["all"][i] for i in sorted(order[:n_val])]}
        if self.cfg.verify:          # every file decoded as training will (a bad one named now)
            from visiontk.data.image_check import check_images

            check_images([path for split in files.values() for path, _ in split])
        self._names, self._files = names, files
        return files

    def class_names(self) -> list[str]:
        self._scan()
        return list(self._names)

    def splits(self):
        return tuple(self._scan())

    def split_hint(self, split: str) -> str:
        root = Path(self.cfg.path).expanduser()
        if (root / "train").is_dir():
            return f"add {root / split}/<class>/ folders of images (the classes of {root / 'train'})"
        return (f"arrange the images as {root}/train/<class>/, {root}/val/<class>/ and "
                f"{root}/{split}/<class>/ (the folders then decide the splits)")

    def load(self, split: str) -> SplitData:
        self.check_split(split)
        listed = self._scan()[split]
        labels = np.array([lab for _, lab in listed], np.int32)
        paths = [p for p, _ in listed]
        return SplitData(paths, {"label": labels, "identity": labels.copy()}, files=paths)
