"""The recipe, as pydantic models. Task heads and data sources add their own sections
(`model.head`, `data.params`) through their `Config` classes, checked by `load_recipe`."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BeforeValidator, Field

from visiontk.recipe.fields import (Fraction, NonNegFloat, NonNegInt, OpenFraction, PositiveFloat,
                                    PositiveInt, Strict, between)


class Backbone(Strict):
    name: str
    weights: str = "none"            # none | imagenet | path/to/file.weights.h5
    params: dict[str, Any] = Field(default_factory=dict)   # builder keyword arguments (variant data)


class ModelCfg(Strict):
    backbone: Backbone
    input_shape: tuple[PositiveInt, PositiveInt, PositiveInt]
    head: Any = Field(default_factory=dict)                 # the task's Config (checked by load_recipe)
    feature: Optional[str] = None                           # named backbone feature map; default: task's choice
    init_from: Optional[str] = None                         # RUN_DIR, .keras or .weights.h5 (backbone restore)


class Augment(Strict):
    flip: Literal["none", "horizontal", "vertical", "both"] = "none"
    translate: Annotated[float, between(0.0, 0.5)] = 0.0    # fraction of the image size
    rotate: Annotated[float, between(0.0, 180.0)] = 0.0     # degrees, classification-style tasks only
    zoom: Annotated[float, between(0.0, 0.9)] = 0.0
    brightness: Fraction = 0.0
    contrast: Fraction = 0.0
    # probability of random erasing (Zhong et al. 2017: a rectangle of 2-40 % of the image, aspect
    # 0.3-3.3, filled with uniform noise); classification, metric; Ultralytics' classify `erasing: 0.4`
    erasing: Fraction = 0.0
    # box-preserving transforms (detection; visiontk/data/box_augment.py), Ultralytics' names:
    mosaic: Fraction = 0.0                                  # probability of a 4-image mosaic
    scale: Annotated[float, between(0.0, 0.9)] = 0.0        # zoom in [1 - scale, 1 + scale], crop / pad
    mixup: Fraction = 0.0                                   # probability of blending in a second image
    min_visible: Fraction = 0.25                            # boxes cut below this share of their area go
    close_mosaic: NonNegInt = 0                             # mosaic, scale, mixup off for the last N epochs
    # hue shift (turns), saturation and value gains, each drawn in +-gain; Ultralytics: 0.015, 0.7, 0.4
    hsv: tuple[Annotated[float, between(0.0, 0.5)], Fraction, Fraction] = (0.0, 0.0, 0.0)


class CropsCfg(Strict):
    """`data.crops` (classification): one image per object box of the source, cut out as a
    two-stage detector's second stage cuts it (visiontk/data/box_crops.py)."""

    margin: Annotated[float, between(1.0, 4.0)] = 1.15    # the crop's side / the box's longer side
    jitter: Fraction = 0.1               # training boxes: centre moved and sides scaled by up to this
    copies: PositiveInt = 1              # training crops per object, each jittered on its own
    min_size: NonNegFloat = 4.0          # boxes with a longer side under this many pixels are left out


class DataCfg(Strict):
    source: str = "synthetic-scenes"
    params: Any = Field(default_factory=dict)               # the source's Config (checked by load_recipe)
    augment: Augment = Field(default_factory=Augment)
    resize: Literal["stretch", "pad"] = "stretch"           # how images meet model.input_shape
    crops: Optional[CropsCfg] = None                        # classify the source's object boxes
    cache: bool = True
    shuffle_buffer: PositiveInt = 10000


class OptimizerCfg(Strict):
    name: str = "adam"
    learning_rate: PositiveFloat = 1e-3
    momentum: Optional[Fraction] = None
    nesterov: Optional[bool] = None
    beta_1: Optional[OpenFraction] = None
    beta_2: Optional[OpenFraction] = None
    epsilon: Optional[PositiveFloat] = None
    rho: Optional[OpenFraction] = None
    initial_accumulator_value: Optional[NonNegFloat] = None
    clipnorm: Optional[PositiveFloat] = None


class ScheduleCfg(Strict):
    name: str = "constant"
    drop_every_epochs: Optional[PositiveInt] = None         # step
    factor: Optional[Annotated[float, between(0.0, 1.0, lo_open=True)]] = None   # step, plateau
    decay_rate: Optional[PositiveFloat] = None              # exponential, inverse_time
    decay_epochs: Optional[PositiveFloat] = None            # exponential, inverse_time
    warmup_epochs: Optional[NonNegInt] = None               # cosine
    min_lr: Optional[NonNegFloat] = None                    # cosine, plateau
    patience: Optional[PositiveInt] = None                  # plateau
    monitor: Optional[str] = None                           # plateau


class Regularization(Strict):
    # decoupled weight decay (each step w -= lr * wd * w, outside the gradient) on kernels only, not
    # biases / batch norm; not an L2 term in the loss (see train/optim.py)
    weight_decay: NonNegFloat = 0.0
    dropout: Optional[OpenFraction] = None   # head dropout; None = the architecture's own default
    label_smoothing: OpenFraction = 0.0


class EarlyStopping(Strict):
    monitor: str = "val_loss"
    patience: PositiveInt = 5
    mode: Literal["auto", "min", "max"] = "auto"
    min_delta: NonNegFloat = 0.0


class Finetune(Strict):
    freeze: str = "none"                                     # none | backbone | until_layer NAME
    unfreeze_after_epochs: Optional[NonNegInt] = None
    backbone_lr_multiplier: Annotated[float, between(0.0, 1.0, lo_open=True)] = 1.0


def _auto_if_null(v):
    return "auto" if v is None else v


class TrainCfg(Strict):
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 32                             # global batch, split across replicas
    optimizer: OptimizerCfg = Field(default_factory=OptimizerCfg)
    schedule: ScheduleCfg = Field(default_factory=ScheduleCfg)
    regularization: Regularization = Field(default_factory=Regularization)
    early_stopping: Optional[EarlyStopping] = None
    checkpoint_monitor: Optional[str] = None                 # best checkpoint; default early_stopping.monitor or the task's; "last": the last epoch
    finetune: Optional[Finetune] = None
    steps_per_epoch: Optional[PositiveInt] = None
    validation_steps: Optional[PositiveInt] = None
    # auto: mixed_bfloat16 on CPUs with AMX / AVX512-BF16, mixed_float16 on GPUs of compute
    # capability >= 7.0, float32 elsewhere (visiontk/train/precision.py); null (old recipes) = auto
    mixed_precision: Annotated[Literal["auto", "float32", "mixed_bfloat16", "mixed_float16"],
                               BeforeValidator(_auto_if_null)] = "auto"
    jit_compile: bool = False
    steps_per_execution: PositiveInt = 1
    deterministic: bool = False
    tensorboard: bool = True


class DistributeCfg(Strict):
    strategy: Literal["auto", "one_device", "mirrored", "multi_worker", "tpu"] = "auto"
    devices: Optional[list[str]] = None                      # mirrored / one_device: e.g. [CPU:0, CPU:1]
    logical_cpus: Optional[PositiveInt] = None               # split the CPU into N logical devices (tests)


def _output(v: Optional[str]) -> Optional[str]:
    if v is not None and not v.strip():
        raise ValueError("is empty; name the run folder (e.g. runs/my_run), or remove the key for "
                         "the default runs/<recipe name>")
    return v


def _name(v: Optional[str]) -> Optional[str]:
    if v is not None and (not v.strip() or v.strip() in (".", "..") or "/" in v or "\\" in v):
        raise ValueError(f"must be a plain folder name (not empty, no '/', not '.' or '..'), got {v!r}")
    return v


class Recipe(Strict):
    task: str
    model: ModelCfg
    data: DataCfg = Field(default_factory=DataCfg)
    train: TrainCfg = Field(default_factory=TrainCfg)
    distribute: DistributeCfg = Field(default_factory=DistributeCfg)
    output: Annotated[Optional[str], AfterValidator(_output)] = None   # run directory; default runs/<name>
    seed: Annotated[int, between(0, 2 ** 32 - 1)] = 0        # numpy's and Keras' seed range
    name: Annotated[Optional[str], AfterValidator(_name)] = None   # default: the recipe file's stem

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)
