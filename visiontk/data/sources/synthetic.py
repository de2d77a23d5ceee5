"""`synthetic-scenes`: the embedded default source; every annotation kind, no download."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
from pydantic import model_validator

from visiontk.data.base import DataSource, SplitData
from visiontk.data.scenes import MIN_OBJECT_PX, PALETTE, SHAPES, draw_scene
from visiontk.errors import SourceError
from visiontk.recipe.fields import Fraction, NonNegInt, PositiveInt, Strict
from visiontk.catalog import SOURCES


class SyntheticConfig(Strict):
    train_size: PositiveInt = 2000
    val_size: PositiveInt = 400
    test_size: NonNegInt = 0
    classes: list[str] = ["circle", "square", "triangle"]
    min_objects: NonNegInt = 1
    max_objects: PositiveInt = 4
    size_range: tuple[Fraction, Fraction] = (0.15, 0.45)   # object diameter / image side
    max_overlap: Fraction = 0.3                             # IoU allowed between two objects
    texture: Fraction = 0.5                                 # background texture strength
    noise: Fraction = 0.02                                  # pixel noise (std, fraction of 255)
    colors: PositiveInt = 8                                 # palette size; identity = shape x colour
    image_size: Optional[tuple[PositiveInt, PositiveInt]] = None   # default: model.input_shape
    # crowding: k >= 1 groups per scene; each object's centre lies near one group's centre (normal,
    # std cluster_spread x image side) instead of anywhere; max_overlap still bounds every IoU
    clusters: NonNegInt = 0
    cluster_spread: Fraction = 0.1
    # S: objects come in pairs whose two box centres share one cell of an S x S grid (the cell rule
    # of the grid detector's targets) that holds no other centre; max_overlap keeps the two apart
    # (side by side, or a small one on a larger one: the smaller is painted on top). A grid head of
    # S cells can then find at most half of the objects (box_stats.grid_recall_bound).
    shared_cell: Optional[PositiveInt] = None

    @model_validator(mode="after")
    def _check(self):
        unknown = [c for c in self.classes if c not in SHAPES]
        if unknown:
            from visiontk.registry import did_you_mean

            raise ValueError(f"unknown shape '{unknown[0]}'{did_you_mean(unknown[0], SHAPES)}; "
                             f"shapes: {', '.join(SHAPES)}")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("classes must not repeat")
        if self.min_objects > self.max_objects:
            raise ValueError(f"min_objects ({self.min_objects}) is larger than max_objects "
                             f"({self.max_objects})")
        if self.size_range[0] > self.size_range[1] or self.size_range[0] <= 0:
            raise ValueError(f"size_range must be (low, high) with 0 < low <= high <= 1, "
                             f"got {list(self.size_range)}")
        if self.colors > len(PALETTE):
            raise ValueError(f"colors must be at most {len(PALETTE)}, got {self.colors}")
        return self

    @model_validator(mode="after")
    def _check_layout(self):
        """The crowding and shared-cell fields, and object sizes at a given image_size."""
        # a value other than the default (a saved recipe.yaml lists the default: it must reload)
        if self.cluster_spread != type(self).model_fields["cluster_spread"].default and not self.clusters:
            raise ValueError("cluster_spread applies only with clusters >= 1 (groups of objects); "
                             "set clusters or remove cluster_spread")
        if self.clusters and self.cluster_spread <= 0:
            raise ValueError("cluster_spread must be greater than 0 with clusters (0 puts every "
                             "object of a group on one spot)")
        if self.shared_cell is not None:
            if self.shared_cell < 2:
                raise ValueError(f"shared_cell must be a grid size of 2 or more, got {self.shared_cell}")
            if self.max_objects < 2 or _pairs(self)[0] > _pairs(self)[1]:
                raise ValueError(f"shared_cell makes objects in pairs: min_objects..max_objects "
                                 f"({self.min_objects}..{self.max_objects}) must include an even "
                                 f"number of at least 2, e.g. max_objects: "
                                 f"{max(2, self.max_objects + self.max_objects % 2)}")
            if self.max_overlap == 0 and self.size_range[0] >= 1 / self.shared_cell:
                # measured: S 7, size_range (0.15, 0.45), no overlap: 0.12 of 5 objects a scene
                raise ValueError(f"shared_cell {self.shared_cell} with max_overlap 0: objects at least "
                                 f"{self.size_range[0]:g} of the side across cannot put two centres "
                                 f"in one cell (1/{self.shared_cell} of the side) without touching; "
                                 f"lower size_range's low end below {1 / self.shared_cell:.3f} or "
                                 f"allow some overlap (e.g. max_overlap: 0.1)")
        if self.image_size is not None:
            _field, problem = size_problem(self, *self.image_size)
            if problem:
                raise ValueError(problem)
        return self


def _pairs(cfg: SyntheticConfig) -> tuple[int, int]:
    """The fewest and most pairs of a shared-cell scene."""
    return (cfg.min_objects + 1) // 2, cfg.max_objects // 2


def size_problem(cfg: SyntheticConfig, h: int, w: int) -> tuple[str, str]:
    """(field, problem) that makes the scenes undrawable at h x w pixels; ("", "") when nothing."""
    side = min(h, w)
    smallest = cfg.size_range[0] * side
    if smallest < MIN_OBJECT_PX:
        return "size_range", (
            f"size_range {list(cfg.size_range)} makes objects of {smallest:.1f} px on {h} x {w} "
            f"images; the smallest that draws every shape is {MIN_OBJECT_PX} px across (a "
            f"smaller ellipse gets an empty box): raise size_range's low end to at least "
            f"{math.ceil(MIN_OBJECT_PX / side * 1000) / 1000:g} or the image size")
    if cfg.shared_cell is not None and cfg.shared_cell > side:
        return "shared_cell", (f"shared_cell {cfg.shared_cell} makes grid cells smaller than a "
                               f"pixel on {h} x {w} images; use at most {side}")
    return "", ""


_SPLIT_INDEX = {"train": 0, "val": 1, "test": 2}


@SOURCES.register("synthetic-scenes", aliases=("synthetic",))
class SyntheticScenes(DataSource):
    """Shapes on textured backgrounds. The largest object is the scene's `label`, `box` and
    `identity` (shape x colour); `boxes`/`classes` list every object; `count` counts them."""

    name = "synthetic-scenes"
    Config = SyntheticConfig
    provides = ("label", "count", "box", "boxes", "classes", "mask", "identity")

    @staticmethod
    def params_problem(cfg: SyntheticConfig, input_shape) -> tuple[str, str]:
        """(field, problem) of params that cannot draw at the recipe's input size; ("", "") if none
        (`recipe check` asks, before anything is built)."""
        h, w = cfg.image_size or tuple(input_shape)[:2]
        return size_problem(cfg, h, w)

    def __init__(self, cfg, **kw):
        super().__init__(cfg, **kw)
        h, w = cfg.image_size or self.input_shape[:2]
        _field, problem = size_problem(cfg, h, w)
        if problem:
            raise SourceError(f"data.params: {problem}"
                              + ("" if cfg.image_size else " (model.input_shape gives the image size)"))

    def class_names(self) -> list[str]:
        return list(self.cfg.classes)

    def splits(self):
        return ("train", "val", "test") if self.cfg.test_size else ("train", "val")

    def extra_info(self) -> dict:
        return {"identities": len(self.cfg.classes) * self.cfg.colors}

    def split_hint(self, split: str) -> str:
        return "set data.params.test_size (e.g. the override data.params.test_size=400)" \
            if split == "test" else ""

    def load(self, split: str) -> SplitData:
        self.check_split(split)
        return self._generate(split, self._size(split))

    def head(self, split: str, n: int) -> SplitData:
        """The first `n` scenes only: scene i depends on the seed and i, not on the split size."""
        self.check_split(split)
        return self._generate(split, min(n, self._size(split)))

    def _size(self, split: str) -> int:
        return {"train": self.cfg.train_size, "val": self.cfg.val_size, "test": self.cfg.test_size}[split]

    def _generate(self, split: str, n: int) -> SplitData:
        cfg = self.cfg
        h, w = cfg.image_size or self.input_shape[:2]
        rng = np.random.default_rng([self.seed, _SPLIT_INDEX[split], 7919])
        shape_ids = [SHAPES.index(c) for c in cfg.classes]
        to_label = {s: i for i, s in enumerate(shape_ids)}
        m = cfg.max_objects
        images = np.zeros((n, h, w, 3), np.uint8)
        ann = {"label": np.zeros(n, np.int32), "count": np.zeros(n, np.float32),
               "box": np.zeros((n, 4), np.float32), "boxes": np.zeros((n, m, 4), np.float32),
               "classes": np.full((n, m), -1, np.int32), "mask": np.zeros((n, h, w), np.uint8),
               "identity": np.zeros(n, np.int32)}
        from visiontk.progress import progress

        for i in progress(range(n), f"generating {split} scenes"):
            if cfg.shared_cell is None:
                k = int(rng.integers(cfg.min_objects, m + 1))
            else:
                k = 2 * int(rng.integers(_pairs(cfg)[0], _pairs(cfg)[1] + 1))
            img, objs, mask = draw_scene(rng, h, w, classes=shape_ids, n_objects=k,
                                         size_range=cfg.size_range, max_iou=cfg.max_overlap,
                                         texture=cfg.texture, noise=cfg.noise, colors=cfg.colors,
                                         clusters=cfg.clusters, cluster_spread=cfg.cluster_spread,
                                         shared_cell=cfg.shared_cell)
            images[i] = img
            # mask holds shape index + 1; map to the recipe's class order (+1, 0 = background)
            lut = np.zeros(len(SHAPES) + 1, np.uint8)
            for s, j in to_label.items():
                lut[s + 1] = j + 1
            ann["mask"][i] = lut[mask]
            ann["count"][i] = len(objs)
            for j, o in enumerate(objs):
                ann["boxes"][i, j] = o["box"]
                ann["classes"][i, j] = to_label[o["cls"]]
            if objs:
                ann["label"][i] = to_label[objs[0]["cls"]]
                ann["box"][i] = objs[0]["box"]
                ann["identity"][i] = to_label[objs[0]["cls"]] * cfg.colors + objs[0]["color"]
        if self.input_shape[2] == 1:
            images = _grey(images)
        return SplitData(images, ann)


def _grey(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 -> (..., 1) uint8 luma (0.299 R + 0.587 G + 0.114 B), the same bytes on every
    machine. A float32 matmul is not: OpenBLAS sums the three products with a kernel chosen per CPU
    (its SkylakeX kernel and its Zen/Haswell one round differently, and a sum that lands on .5 then
    rounds to another grey level). This is the SkylakeX kernel's order written out, the bytes the
    shipped recipes trained on: each product exact in float64, rounded to float32 after each add."""
    w = np.array([0.299, 0.587, 0.114], np.float32).astype(np.float64)
    x = rgb.astype(np.float64)
    acc = (x[..., 0] * w[0]).astype(np.float32)
    for c in (1, 2):
        acc = (acc.astype(np.float64) + x[..., c] * w[c]).astype(np.float32)
    return acc.round().astype(np.uint8)[..., None]
