"""The data-source contract (TensorFlow-free): a source loads named splits as arrays or file lists."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import ClassVar, Union

import numpy as np
from pydantic import BaseModel

from visiontk.errors import DataError, SourceError

ANNOTATION_KEYS = ("label", "count", "box", "boxes", "classes", "mask", "identity", "instances")


@dataclass
class SplitData:
    """One split. `images` is a uint8/float32 NHWC array, or a list of image file paths (decoded
    in the pipeline). `annotations` maps keys of ANNOTATION_KEYS to arrays with N rows."""

    images: Union[np.ndarray, list]
    annotations: dict = field(default_factory=dict)
    files: list | None = None            # file names for error messages / predictions (optional)

    def __len__(self) -> int:
        return len(self.images)


class DataSource:
    """Base class; subclasses are registered in `visiontk.catalog.SOURCES`.

    Args:
        cfg: the source's `Config` (recipe `data.params`).
        input_shape: the model input (H, W, C); sources may generate at this size.
        seed: the recipe seed (generated data must be deterministic from it).
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type[BaseModel]]
    provides: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: BaseModel, *, input_shape=(64, 64, 3), seed: int = 0):
        self.cfg = cfg
        self.input_shape = tuple(input_shape)
        self.seed = seed

    def class_names(self) -> list[str]:
        raise NotImplementedError

    def splits(self) -> tuple[str, ...]:
        return ("train", "val")

    def load(self, split: str) -> SplitData:
        raise NotImplementedError

    def extra_info(self) -> dict:
        """Anything a task may need besides class names (e.g. identity names)."""
        return {}

    def head(self, split: str, n: int) -> SplitData:
        """The first `n` images of `split` (and their annotations), the same as `load(split)`'s
        first `n`; sources that generate their data generate only these."""
        return head_of(self.load(split), n)

    def split_hint(self, split: str) -> str:
        """How to give this source the split `split` (a sentence), or "" when nothing can."""
        return ""

    def check_split(self, split: str) -> None:
        if split not in self.splits():
            raise SourceError(missing_split(f"data source '{self.name}'", split, self.splits(),
                                            self.split_hint(split)))


def missing_split(what: str, split: str, has, hint: str = "") -> str:
    """The message for a split a dataset lacks, with how to make one."""
    return (f"{what} has no split '{split}'; it has: {', '.join(has)}"
            + (f"; to make one, {hint}" if hint else ""))


def head_of(data: SplitData, n: int) -> SplitData:
    files = data.files[:n] if data.files is not None else None
    return SplitData(data.images[:n], {k: v[:n] for k, v in data.annotations.items()}, files)


@contextmanager
def dataset_reading():
    """An OSError while reading a dataset (no permission, a file removed meanwhile, a symlink loop)
    becomes one DataError naming the path."""
    try:
        yield
    except OSError as exc:
        where = exc.filename if exc.filename is not None else "a dataset file"
        raise DataError(f"cannot read {where}: {exc.strerror or exc}; check that it exists and is "
                        f"readable") from None
