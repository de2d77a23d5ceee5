"""`fashion-scenes`: Fashion-MNIST photographs placed on cluttered canvases, every target at once.

Scenes are generated from the recipe's seed (scene i of a split depends only on the seed, the split,
i and the config) and cached on disk after the first build. No photograph is used by two splits:
see `split_rule`.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
from pydantic import model_validator

from visiontk.catalog import SOURCES
from visiontk.data.base import DataSource, SplitData
from visiontk.data.fashion_canvas import draw_scene
from visiontk.data.sources.fashion_mnist import CLASS_NAMES, FILES, locate, read_part
from visiontk.errors import DataError
from visiontk.recipe.fields import Fraction, NonNegInt, PositiveInt, Strict, between

# bump when the drawing changes, so that caches of the old drawing are not read back
GENERATOR_VERSION = 1
_SPLIT_INDEX = {"train": 0, "val": 1, "test": 2}
# what a scene does not depend on (left out of the cache key)
_NOT_IN_KEY = {"path", "cache", "cache_dir", "train_size", "val_size", "test_size"}


class FashionScenesConfig(Strict):
    path: Optional[str] = None            # folder with the four idx(.gz) files (else the Debian one)
    train_size: PositiveInt = 12000
    val_size: PositiveInt = 1000
    test_size: PositiveInt = 1000
    val_share: NonNegInt = 5000           # last training photos never drawn (fashion-mnist's val)
    classes: Optional[list[Annotated[int, between(0, 9)]]] = None   # keep these (renumbered in order)
    min_objects: NonNegInt = 0
    max_objects: PositiveInt = 8
    size_range: tuple[Fraction, Fraction] = (0.1, 0.5)   # garment's longer side / canvas side
    max_overlap: Fraction = 0.3           # IoU allowed between two garments' boxes
    min_visible: Fraction = 0.5           # share of its pixels a garment keeps under later ones
    clutter: Fraction = 0.5               # background noise, texture and distractor strength
    noise: Fraction = 0.02                # pixel noise (std, fraction of 255)
    tint: bool = True                     # colour garments and background (grey when false)
    image_size: Optional[tuple[PositiveInt, PositiveInt]] = None   # default: model.input_shape
    cache: bool = True                    # keep built splits in cache_dir
    cache_dir: Optional[str] = None       # default $XDG_CACHE_HOME/visiontk/fashion-scenes

    @model_validator(mode="after")
    def _check(self):
        if self.classes is not None and (not self.classes or len(set(self.classes)) < len(self.classes)):
            raise ValueError(f"classes must name each class once (at least one), got {self.classes}")
        if self.min_objects > self.max_objects:
            raise ValueError(f"min_objects ({self.min_objects}) is larger than max_objects "
                             f"({self.max_objects})")
        if self.max_objects > 255:
            raise ValueError(f"max_objects must be at most 255 (the instance map is uint8), "
                             f"got {self.max_objects}")
        if not 0 < self.size_range[0] <= self.size_range[1]:
            raise ValueError(f"size_range must be (low, high) with 0 < low <= high <= 1, "
                             f"got {list(self.size_range)}")
        return self


@SOURCES.register("fashion-scenes", aliases=("fashion_scenes",))
class FashionScenes(DataSource):
    """Up to `max_objects` garments per canvas. `boxes`/`classes` list the garments (largest box
    first), `instances` numbers them (i + 1 for row i), `mask` holds class + 1, `count` counts them;
    `label`/`box` are the largest garment's (with min_objects = max_objects = 1, one per scene)."""

    name = "fashion-scenes"
    Config = FashionScenesConfig
    provides = ("label", "count", "box", "boxes", "classes", "mask", "instances")

    def __init__(self, cfg, **kw):
        super().__init__(cfg, **kw)
        self._parts: dict = {}
        self._photos: dict = {}

    def class_names(self) -> list[str]:
        return [CLASS_NAMES[c] for c in self.cfg.classes or range(10)]

    def splits(self):
        return ("train", "val", "test")

    def extra_info(self) -> dict:
        return {"split_rule": self.split_rule()}

    def load(self, split: str) -> SplitData:
        self.check_split(split)
        n = self._size(split)
        cached = self._read_cache(split, n)
        if cached is not None:
            data, photos = cached
        else:
            data, photos = self._generate(split, n)
            self._write_cache(split, n, data, photos)
        self._photos[split] = photos
        return data

    def head(self, split: str, n: int) -> SplitData:
        """The first `n` scenes: read from the cache when the split was built, else only these are
        generated (scene i does not depend on the split's size)."""
        self.check_split(split)
        n = min(n, self._size(split))
        cached = self._read_cache(split, self._size(split))
        if cached is not None:
            data = cached[0]
            return SplitData(data.images[:n], {k: v[:n] for k, v in data.annotations.items()})
        return self._generate(split, n)[0]

    def photo_indices(self, split: str) -> np.ndarray:
        """int32 (n, max_objects): the Fashion-MNIST index (in the idx file `photo_part(split)`) of
        each object of `load(split)`, row for row with `boxes`; -1 pads."""
        if split not in self._photos:
            self.load(split)
        return self._photos[split]

    # ---- the split rule --------------------------------------------------------------------------

    @staticmethod
    def photo_part(split: str) -> str:
        """The idx files a split draws its photographs from ("train" or "test")."""
        return "train" if split == "train" else "test"

    def _pool_range(self, split: str) -> tuple[int, int]:
        """[start, stop) of the photographs (in `photo_part(split)`) the split may draw from."""
        images = self._part(self.photo_part(split))[0]
        if split == "train":
            stop = len(images) - self.cfg.val_share
            if stop < 1:
                raise DataError(f"data.params.val_share ({self.cfg.val_share}) leaves no training "
                                f"photographs: the training idx file holds {len(images)}; lower it")
            return 0, stop
        half = len(images) // 2
        return (0, half) if split == "val" else (half, len(images))

    def split_rule(self) -> str:
        """The rule that keeps every photograph in one split, as text (for metadata and docs)."""
        (a0, a1), (b0, b1), (c0, c1) = (self._pool_range(s) for s in ("train", "val", "test"))
        return (f"train scenes use Fashion-MNIST training images {a0}-{a1 - 1} (the last "
                f"{self.cfg.val_share}, fashion-mnist's validation share, are never used); val "
                f"scenes use test images {b0}-{b1 - 1}; test scenes use test images {c0}-{c1 - 1}; "
                f"no photograph appears in two splits")

    # ---- generation ------------------------------------------------------------------------------

    def _size(self, split: str) -> int:
        cfg = self.cfg
        return {"train": cfg.train_size, "val": cfg.val_size, "test": cfg.test_size}[split]

    def _part(self, part: str):
        if part not in self._parts:
            folder = self._folder()
            self._parts[part] = _read_part(str(folder), part, _stamp(folder, part))
        return self._parts[part]

    def _folder(self) -> Path:
        return locate(self.cfg.path, can_download=False)

    def _shape(self) -> tuple[int, int, int]:
        h, w = self.cfg.image_size or self.input_shape[:2]
        return h, w, self.input_shape[2]

    def _generate(self, split: str, n: int) -> tuple[SplitData, np.ndarray]:
        from visiontk.progress import progress

        cfg = self.cfg
        h, w, c = self._shape()
        photos, labels = self._part(self.photo_part(split))
        start, stop = self._pool_range(split)
        pool = np.arange(start, stop)
        keep = cfg.classes if cfg.classes is not None else list(range(10))
        if cfg.classes is not None:
            pool = pool[np.isin(labels[start:stop], keep)]
        if len(pool) == 0 and cfg.max_objects:
            raise DataError(f"fashion-scenes: no photograph of classes {keep} for the {split} split")
        remap = np.full(10, -1, np.int32)
        remap[keep] = np.arange(len(keep))
        m = cfg.max_objects
        images = np.zeros((n, h, w, c), np.uint8)
        ann = {"boxes": np.zeros((n, m, 4), np.float32), "classes": np.full((n, m), -1, np.int32),
               "instances": np.zeros((n, h, w), np.uint8)}
        used = np.full((n, m), -1, np.int32)
        for i in progress(range(n), f"generating fashion-scenes {split}"):
            rng = np.random.default_rng([self.seed, _SPLIT_INDEX[split], i, 0xFA5])
            scene = draw_scene(rng, h, w, photos=photos, pool=pool, labels=labels,
                               n_objects=int(rng.integers(cfg.min_objects, m + 1)),
                               size_range=cfg.size_range, max_iou=cfg.max_overlap,
                               min_visible=cfg.min_visible, clutter=cfg.clutter, noise=cfg.noise,
                               channels=c, tint=cfg.tint)
            k = len(scene.classes)
            images[i] = scene.image
            ann["instances"][i] = scene.instances
            ann["boxes"][i, :k] = scene.boxes
            ann["classes"][i, :k] = remap[scene.classes]
            used[i, :k] = scene.photos
        return SplitData(images, _with_targets(ann)), used

    # ---- the cache -------------------------------------------------------------------------------

    def _cache_file(self, split: str, n: int) -> Path:
        folder = self._folder()
        sizes = {p.name: p.stat().st_size for part in FILES for p in _idx_files(folder, part)}
        key = {"version": GENERATOR_VERSION, "seed": self.seed, "split": split, "size": n,
               "shape": self._shape(), "idx_files": sizes,
               "config": self.cfg.model_dump(mode="json", exclude=_NOT_IN_KEY)}
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        base = Path(self.cfg.cache_dir).expanduser() if self.cfg.cache_dir else \
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "visiontk" / self.name
        return base / f"{split}-{digest}.npz"

    def _read_cache(self, split: str, n: int):
        """(SplitData, photo indices) from the cache, or None when absent or damaged (rebuilt)."""
        if not self.cfg.cache:
            return None
        path = self._cache_file(split, n)
        if not path.is_file():
            return None
        h, w, c = self._shape()
        m = self.cfg.max_objects
        shapes = {"images": (n, h, w, c), "instances": (n, h, w), "boxes": (n, m, 4),
                  "classes": (n, m), "photos": (n, m)}
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in shapes}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None
        if any(arrays[k].shape != s for k, s in shapes.items()) or arrays["images"].dtype != np.uint8 \
                or arrays["instances"].dtype != np.uint8:
            return None
        ann = {k: arrays[k] for k in ("boxes", "classes", "instances")}
        return SplitData(arrays["images"], _with_targets(ann)), arrays["photos"]

    def _write_cache(self, split: str, n: int, data: SplitData, photos: np.ndarray) -> None:
        """Atomically (temporary file, then rename); a folder that cannot be written only costs the
        rebuild next time."""
        if not self.cfg.cache:
            return
        from visiontk.io import atomic_path

        meta = {"source": self.name, "version": GENERATOR_VERSION, "seed": self.seed, "split": split,
                "size": n, "split_rule": self.split_rule(),
                "config": self.cfg.model_dump(mode="json")}
        members = {"images": data.images, "photos": photos,
                   **{k: data.annotations[k] for k in ("instances", "boxes", "classes")},
                   "meta": np.array(json.dumps(meta))}
        try:
            with atomic_path(self._cache_file(split, n)) as tmp:
                _save_npz(tmp, members)
        except OSError:
            pass


def _idx_files(folder: Path, part: str) -> list[Path]:
    names = [name for stem in FILES[part] for name in (stem, stem + ".gz")]
    return [folder / name for name in names if (folder / name).is_file()]


def _stamp(folder: Path, part: str) -> tuple:
    """What identifies the idx files' content cheaply (a changed file is read again)."""
    return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in _idx_files(folder, part))


@lru_cache(maxsize=2)
def _read_part(folder: str, part: str, stamp: tuple):
    """read_part, once per process (several sources and splits share the 47 MB of photographs)."""
    del stamp                                    # only part of the key
    return read_part(Path(folder), part)


def _with_targets(ann: dict) -> dict:
    """Adds what follows from boxes, classes and instances: `count`, the largest garment's `label`
    and `box` (row 0; label 0 and an empty box in a scene without garments) and the semantic
    `mask` (class + 1 of each instance, 0 background)."""
    classes, inst = ann["classes"], ann["instances"]
    lut = np.concatenate([np.zeros((len(classes), 1), np.int32), classes + 1], 1).astype(np.uint8)
    mask = np.empty_like(inst)
    for i in range(len(inst)):          # one scene at a time: no (n, h * w) index temporaries
        mask[i] = lut[i][inst[i]]
    return {**ann, "mask": mask, "count": (classes >= 0).sum(1).astype(np.float32),
            "label": np.maximum(classes[:, 0], 0).astype(np.int32), "box": ann["boxes"][:, 0].copy()}


def _save_npz(path: Path, members: dict) -> None:
    """An .npz that np.load reads: the (noisy, incompressible) images stored, the rest deflated."""
    with zipfile.ZipFile(path, "w", allowZip64=True) as zf:
        for name, arr in members.items():
            info = zipfile.ZipInfo(f"{name}.npy")
            info.compress_type = zipfile.ZIP_STORED if name == "images" else zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(arr), allow_pickle=False)
