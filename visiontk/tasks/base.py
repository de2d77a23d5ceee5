"""The Task contract: everything a head needs, in one class (DESIGN.md, "The three contracts").

Training-side methods (build, loss, metrics, encode, callbacks) use TensorFlow/Keras and import it
inside. Inference-side methods (decode, draw) are numpy/OpenCV only, so every backend (Keras,
SavedModel, ONNX Runtime, TFLite) and the TensorFlow-free runner share them; they take the
`meta` dict of the run (meta.json / export metadata.json), never the recipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable

import numpy as np
from pydantic import BaseModel

from visiontk.errors import DataError, ModelError


@dataclass
class DataInfo:
    """What a task learns about its data before building: class names, input shape, extras."""

    class_names: list[str]
    input_shape: tuple[int, int, int]
    provides: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


class Task:
    """Base class; subclasses are registered in `visiontk.catalog.TASKS`."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[BaseModel]]
    needs: ClassVar[tuple[str, ...]] = ()               # annotation keys used by encode
    geometry: ClassVar[tuple[str, ...]] = ()            # keys that augmentation must transform too
    monitor: ClassVar[tuple[str, str]] = ("val_loss", "min")   # default best-checkpoint metric
    # encode works on a batch as on one example (only rank-agnostic tf ops): the pipeline then
    # batches first and encodes once per batch (per-example maps cost ~25 us of CPU an image)
    encodes_batches: ClassVar[bool] = False

    def __init__(self, cfg: BaseModel, info: DataInfo, recipe: Any = None):
        self.cfg = cfg
        self.info = info
        self.recipe = recipe
        missing = [k for k in self.needs if info.provides and k not in info.provides]
        if missing:
            src = recipe.data.source if recipe is not None else "the data source"
            raise DataError(
                f"task '{self.name}' needs annotation(s) {', '.join(missing)} which source '{src}' "
                f"does not provide (it provides: {', '.join(info.provides) or 'nothing'}); choose "
                f"another data.source or task")

    # ---- training side (Keras) ----------------------------------------------------------------
    def build(self, backbone, dropout: float | None = None):
        """Head on `backbone` (a functional model whose outputs are named feature maps)."""
        raise NotImplementedError

    def loss(self):
        raise NotImplementedError

    def metrics(self) -> list:
        return []

    def encode(self, image, annotation: dict):
        """tf ops on one example -> (x, y) for fit (on a batch too when `encodes_batches`)."""
        raise NotImplementedError

    def training_dataset(self, data, recipe):
        """(batched encoded dataset for fit, images per epoch). Default: the shuffled, augmented
        pipeline of `data.pipeline.build_dataset`; a task may build its own batches (e.g. P x K
        identities for metric learning)."""
        from visiontk.data.pipeline import build_dataset

        return build_dataset(data, self, recipe, training=True), len(data)

    def validation_dataset(self, data, recipe):
        """Encoded validation batches for Keras' val_loss, or None when the task's callbacks
        compute its validation metrics instead."""
        from visiontk.data.pipeline import build_dataset

        return build_dataset(data, self, recipe, training=False)

    def callbacks(self, val_data, run_dir) -> list:
        """Extra Keras callbacks (e.g. a validation mAP) given unencoded validation batches."""
        return []

    def inference_model(self, model):
        """The model to save/export: auxiliary or training-only outputs removed."""
        return model

    def custom_objects(self) -> dict:
        return {}

    # ---- inference side (numpy) ---------------------------------------------------------------
    def meta(self) -> dict:
        """Decode settings stored in meta.json / metadata.json (thresholds, grid, ...)."""
        return {}

    @classmethod
    def decode(cls, outputs, meta: dict, sizes: Iterable[tuple[int, int]] | None = None) -> list:
        """Raw model outputs for a batch -> [Prediction]; `sizes` are original (h, w) per image."""
        raise NotImplementedError

    @classmethod
    def draw(cls, frame: np.ndarray, prediction, meta: dict) -> np.ndarray:
        """Overlay on a BGR uint8 frame (OpenCV order); returns the drawn frame."""
        raise NotImplementedError

    def evaluate(self, predict_fn: Callable, batches: Iterable, out_dir=None) -> dict:
        """Metrics from predict_fn(images)->outputs over unencoded (images, annotations) batches."""
        raise NotImplementedError


def make_task(recipe, source) -> Task:
    """The recipe's task (recipe.task, head config recipe.model.head) for the data `source`."""
    from visiontk.catalog import TASKS

    info = DataInfo(class_names=source.class_names(), input_shape=tuple(recipe.model.input_shape),
                    provides=source.provides, extra=source.extra_info())
    return TASKS.get(recipe.task)(recipe.model.head, info, recipe)


def pick_feature(features, name: str | None, *, spatial: bool | None = None):
    """One tensor from a backbone's named outputs.

    Args:
        features: dict name -> tensor (ordered shallow to deep) or a single tensor.
        name: the wanted feature; None picks the deepest one (the deepest spatial one when
            `spatial` is True).
        spatial: require a (B, H, W, C) map (True) or accept anything (None).
    """
    if not isinstance(features, dict):
        return features
    if name is not None:
        if name not in features:
            from visiontk.registry import did_you_mean

            raise ModelError(f"model.feature: backbone has no feature '{name}'"
                             f"{did_you_mean(name, features)}; it has: {', '.join(features)}")
        return features[name]
    names = list(features)
    if spatial:
        names = [n for n in names if len(features[n].shape) == 4]
        if not names:
            raise ModelError("this task needs a spatial feature map (B, H, W, C) but the backbone "
                             f"only gives vectors ({', '.join(features)})")
    return features[names[-1]]
