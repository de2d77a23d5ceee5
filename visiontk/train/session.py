"""A training session: everything built from a recipe once, before fitting, and shared by train,
dry-run, evaluate and the benchmarks (process set-up, strategy, cluster, data source, task, model).

The trainer (loop, fit, distributed), fine-tuning and evaluation all take a `Session`; none of them
imports another to build one, so the layers point down: loop -> fit -> session, evaluate -> session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from visiontk.run import RunDir
from visiontk.tasks.base import check_label_smoothing, make_task
from visiontk.train.cluster import Cluster
from visiontk.train.precision import Precision, choose


@dataclass
class Session:
    """What a recipe builds before fitting. `model` is None after `prepare(build=False)`."""

    recipe: Any
    task: Any
    source: Any
    strategy: Any
    strategy_name: str
    precision: Optional[Precision] = None        # the dtype policy the model is built in, and why
    cluster: Optional[Cluster] = None            # set under multi_worker (this process's place)
    model: Any = None
    finetune: Any = None                         # a train.finetune.Finetuner (init_from / freeze)
    train_data: Any = None
    val_data: Any = None
    fresh: bool = True                           # False when the run resumes from its backup
    worker_dir: Optional[RunDir] = None          # a non-chief worker's scratch folder

    @property
    def multi_worker(self) -> bool:
        return self.cluster is not None

    @property
    def writer(self) -> bool:
        """Whether this process writes the run (every process but a non-chief worker)."""
        return self.cluster is None or self.cluster.is_chief


@dataclass
class TrainResult:
    """What `visiontk.train` returns.

    Attributes:
        run_dir: the run folder the model went to (runs/NAME, or runs/NAME-2 when a finished run
            was kept there).
        metrics: what the run wrote to metrics.json: {"val": ..., "test": ...} (the model kept,
            on each split the data has) and "train" (epochs, best epoch, throughput); empty on a
            multi-worker job's non-chief worker, which writes nothing.
        resumed_from_epoch: the epoch an interrupted run resumed from (0: trained from the start).
    """

    run_dir: Path
    metrics: dict
    resumed_from_epoch: int = 0


def setup_process(recipe, strategy=None) -> Precision:
    """Seeds, determinism and the precision policy (before any model is built); returns the policy
    `train.mixed_precision` resolved to, with why (`auto` looks at the devices `strategy` trains
    on)."""
    import keras
    import tensorflow as tf

    from visiontk.train.strategy import configure_devices

    configure_devices(recipe.distribute)
    keras.utils.set_random_seed(recipe.seed)
    if recipe.train.deterministic:
        tf.config.experimental.enable_op_determinism()
    tpu = isinstance(strategy, tf.distribute.TPUStrategy)
    precision = choose(recipe.train.mixed_precision, tpu=tpu,
                       gpus=() if tpu else _training_gpus(recipe.distribute))
    keras.mixed_precision.set_global_policy(precision.policy)
    return precision


def _training_gpus(distribute) -> list:
    """Compute capabilities (major, minor) of the GPUs this process trains on: every visible one, or
    those among `distribute.devices` when devices are named (none: the CPU trains)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if distribute.devices:
        named = {d.upper().rsplit("GPU:", 1)[1] for d in distribute.devices if "GPU:" in d.upper()}
        gpus = [g for g in gpus if g.name.rsplit(":", 1)[1] in named]
    return [tf.config.experimental.get_device_details(g).get("compute_capability") for g in gpus]


def prepare(recipe, *, build: bool = True) -> Session:
    """Source, task, strategy, cluster and (when `build`) the model with its fine-tuning set up,
    without loading data."""
    from visiontk.data.augment import check_augment
    from visiontk.data.make import make_source
    from visiontk.train.cluster import cluster_from_env
    from visiontk.train.strategy import is_multi_worker, make_strategy

    # the strategy first: MultiWorkerMirroredStrategy must configure collectives before any TF op
    strategy, strategy_name = make_strategy(recipe.distribute)
    precision = setup_process(recipe, strategy)
    source = make_source(recipe)
    task = make_task(recipe, source)
    check_augment(recipe.data.augment, task)
    check_label_smoothing(recipe, task)
    s = Session(recipe, task, source, strategy, strategy_name, precision=precision,
                cluster=cluster_from_env() if is_multi_worker(strategy) else None)
    if build:
        from visiontk.train.model import build_model

        with s.strategy.scope():
            s.model = build_model(recipe, task)
        if recipe.model.init_from or recipe.train.finetune:
            from visiontk.train import finetune

            s.finetune = finetune.setup(s)      # restore the backbone, freeze
    return s


def compile_model(s: Session, steps_per_epoch: int) -> None:
    from visiontk.train.optim import build_optimizer

    r = s.recipe
    ft = s.finetune
    with s.strategy.scope():
        optimizer = build_optimizer(r.train, steps_per_epoch, r.train.epochs)
        if ft is not None:
            ft.wrap_optimizer(optimizer)           # backbone_lr_multiplier
        s.model.compile(optimizer=optimizer, loss=s.task.loss(), metrics=s.task.metrics(),
                        jit_compile=r.train.jit_compile, steps_per_execution=r.train.steps_per_execution)
        if ft is not None:
            ft.build_optimizer(s.model.optimizer)  # slots for the unfrozen phase too
