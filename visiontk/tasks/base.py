"""The Task contract: everything the framework needs from a head, in one class (docs/extending.md).

The trainer, evaluator, exporter and verifier never name a task: what differs between tasks is
declared here. Training-side methods (build, loss, metrics, encode, the input pipelines, callbacks)
use TensorFlow/Keras and import it inside. Inference-side ones (decode, draw) are numpy/OpenCV only
and come from the task's `runtime` module (visiontk/runtime/<task>.py, copied into every export), so
every backend and the TensorFlow-free runner share them; they take the `meta` dict of the run
(meta.json / export metadata.json), never the recipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, ClassVar, Iterable, Optional

import numpy as np
from pydantic import BaseModel

from visiontk.errors import DataError, ModelError, RecipeError


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


@dataclass(frozen=True)
class InputContext:
    """Where an input pipeline runs (as TensorFlow's tf.distribute.InputContext): `num_shards`
    pipelines, this one `shard_index`, each batch `per_replica_batch` images (None: the recipe's
    train.batch_size). One device and model.fit use the default; the multi-worker loop passes its
    workers' shards, so every strategy reads its data through the same task methods."""

    num_shards: int = 1
    shard_index: int = 0
    per_replica_batch: Optional[int] = None

    @property
    def shard(self) -> Optional[tuple[int, int]]:
        """(number of shards, this shard) for data.pipeline.build_dataset, None when unsharded."""
        return (self.num_shards, self.shard_index) if self.num_shards > 1 else None


@dataclass
class EvalContext:
    """What a task's evaluate may use besides the batches: the split's name, the other splits of the
    same data source (e.g. training images as k-NN references; no second data source is built) and
    the decode settings of the run so far (meta.json's "decode")."""

    split: str = "val"
    load: Optional[Callable[[str], Any]] = None          # split name -> SplitData
    decode: dict = field(default_factory=dict)


@dataclass
class Evaluation:
    """A task's evaluation: the metrics (metrics.json) and decode settings measured on the split
    that the run's meta.json should carry from now on (e.g. a verification threshold); the caller
    writes them, the task writes no run file itself."""

    metrics: dict
    decode_updates: dict = field(default_factory=dict)


class Task:
    """Base class; subclasses are registered in `visiontk.catalog.TASKS`."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[BaseModel]]
    needs: ClassVar[tuple[str, ...]] = ()               # annotation keys used by encode
    geometry: ClassVar[tuple[str, ...]] = ()            # keys that augmentation must transform too
    monitor: ClassVar[tuple[str, str]] = ("val_loss", "min")   # default best-checkpoint metric
    # every metric the task logs (training metrics, callback metrics) and whether higher or lower is
    # better: read by the best checkpoint, early stopping and the plateau schedule ("val_" + name
    # too; "loss" and any "*_loss" are "min")
    metric_modes: ClassVar[dict[str, str]] = {}
    # the metrics.json figures of the run's one-line summary, best first
    summary_metrics: ClassVar[tuple[str, ...]] = ()
    # data.augment fields whose transform the task's targets follow (check_augment refuses others)
    augmentations: ClassVar[frozenset] = frozenset({"flip", "translate", "rotate", "zoom",
                                                    "brightness", "contrast", "erasing"})
    # its loss smooths class targets by train.regularization.label_smoothing (refused otherwise)
    label_smoothing: ClassVar[bool] = False
    # numpy decode / draw / Prediction type of the task (TensorFlow-free, copied into exports)
    runtime: ClassVar[Optional[ModuleType]] = None
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

    @classmethod
    def mode_of(cls, name: str) -> str:
        """"min" or "max": how the metric `name` (with or without "val_") improves; a RecipeError
        naming the task's metrics for a name it does not log."""
        base = name[4:] if name.startswith("val_") else name
        if base == "loss" or base.endswith("_loss"):
            return "min"
        if base in cls.metric_modes:
            return cls.metric_modes[base]
        known = ", ".join(["loss", *cls.metric_modes])
        raise RecipeError(f"'{name}' is not a metric of task '{cls.name}' (it logs: {known}, each also "
                          f"as val_...)")

    def annotation_keys(self) -> set:
        """The annotations the input pipeline keeps: what encode reads and augmentation moves."""
        return set(self.needs) | set(self.geometry)

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

    def training_dataset(self, data, context: InputContext = InputContext()):
        """(batched encoded dataset for fit, images per epoch of all shards together: the trainer
        divides it by the global batch for the steps of an epoch). Default: the shuffled,
        augmented pipeline of `data.pipeline.build_dataset`; a task may build its own batches (e.g.
        P x K identities for metric learning). Under `context`, every shard reads the same shuffle
        and keeps its part, so one step's batches of all shards are one global batch."""
        from visiontk.data.pipeline import build_dataset

        return build_dataset(data, self, self.recipe, training=True,
                             batch_size=context.per_replica_batch, shard=context.shard), len(data)

    def validation_dataset(self, data, context: InputContext = InputContext()):
        """Encoded validation batches for Keras' val_loss and metrics, or None when the task's
        callbacks compute its validation metrics instead. Every image once across the shards: the
        last batch may be partial, and shards may differ by one batch."""
        from visiontk.data.pipeline import build_dataset

        return build_dataset(data, self, self.recipe, training=False,
                             batch_size=context.per_replica_batch, shard=context.shard)

    def callbacks(self, val_data, run_dir) -> list:
        """Extra Keras callbacks (e.g. a validation mAP) given unencoded validation batches."""
        return []

    def inference_model(self, model):
        """The model to save/export: auxiliary or training-only outputs removed."""
        return model

    def own_backbones(self) -> tuple[str, ...]:
        """Names of the nested "*_backbone" models this task built with an architecture of their
        own (not copies of model.backbone): `model.init_from` restores them only from a source
        model of the same name, never from its backbone."""
        return ()

    # ---- inference side (numpy) ---------------------------------------------------------------
    def meta(self) -> dict:
        """Decode settings stored in meta.json / metadata.json (thresholds, grid, ...)."""
        return {}

    @classmethod
    def decode(cls, outputs, meta: dict, sizes: Iterable[tuple[int, int]] | None = None) -> list:
        """Raw model outputs for a batch -> [Prediction]; `sizes` are original (h, w) per image.
        Default: the task's runtime module's decode."""
        return cls.runtime.decode(outputs, meta, sizes)

    @classmethod
    def draw(cls, frame: np.ndarray, prediction, meta: dict) -> np.ndarray:
        """Overlay on a BGR uint8 frame (OpenCV order); returns the drawn frame. Default: the task's
        runtime module's draw."""
        return cls.runtime.draw(frame, prediction, meta)

    def evaluate(self, predict_fn: Callable, batches: Iterable, out_dir=None,
                 context: EvalContext = EvalContext()) -> Evaluation:
        """Metrics from predict_fn(images)->outputs over unencoded (images, annotations) batches of
        `context.split`; plots go to `out_dir` when given."""
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


def check_label_smoothing(recipe, task) -> None:
    """Refuse train.regularization.label_smoothing for a task whose loss would ignore it."""
    if not recipe.train.regularization.label_smoothing or task.label_smoothing:
        return
    from visiontk.catalog import TASKS, populate

    populate()
    using = sorted({TASKS.get(n).name for n in TASKS.names() if TASKS.get(n).label_smoothing})
    raise RecipeError(f"train.regularization.label_smoothing: task '{task.name}' does not smooth "
                      f"its targets (only {', '.join(using)} do); remove it")
