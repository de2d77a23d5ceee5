"""Fitting a prepared recipe and finishing the run: model.keras, backbone.weights.h5 and metrics.json.

Keras' `model.fit` drives one device, Mirrored and TPU strategies; MultiWorkerMirroredStrategy goes
through visiontk.train.distributed (Keras 3's fit fails there upstream, keras-team/keras#20585).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import keras
import numpy as np

from visiontk.data.box_augment import schedule_callbacks
from visiontk.io import atomic_path, write_json
from visiontk.train.callbacks import (Backup, BestLast, EpochTensorBoard, History, StopOnNonFiniteLoss,
                                      save_weights)
from visiontk.train.finetune import find_backbone
from visiontk.train.session import Session, TrainResult, compile_model


def monitor_of(p: Session) -> tuple[str, str]:
    """Metric for the best checkpoint and its mode: train.checkpoint_monitor, early_stopping.monitor,
    or the task's own; the mode from the task's declared metrics (task.mode_of)."""
    r = p.recipe
    if r.train.checkpoint_monitor:
        name = r.train.checkpoint_monitor
    elif r.train.early_stopping:
        name = r.train.early_stopping.monitor
    else:
        name = p.task.monitor[0]
    if name == "last":                    # no metric: the last epoch is the run's model
        return name, "max"
    if p.val_data is None and name.startswith("val_"):
        name = name[4:]
    mode = p.task.mode_of(name)
    if r.train.early_stopping and r.train.early_stopping.mode != "auto" and \
            name == r.train.early_stopping.monitor:
        mode = r.train.early_stopping.mode
    return name, mode


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self.t0


@dataclass
class RunCallbacks:
    """The run's callbacks in order, with handles on the ones the loop talks to."""

    callbacks: list
    history: History
    best_last: BestLast
    backup: Backup
    monitor: str
    mode: str
    stateful: dict = field(default_factory=dict)


def make_callbacks(p: Session, run, val_batches, *, writer: bool = True, backup_from=None) -> RunCallbacks:
    """Callbacks of a run. `writer=False` (a non-chief worker) keeps the ones that decide (early
    stopping, plateau, the task's validation metrics) and drops those that write files."""
    r = p.recipe
    monitor, mode = monitor_of(p)
    history = History(run.path)
    best_last = BestLast(run / "checkpoints", monitor, mode)
    stateful = {"best_last": best_last}
    callbacks: list = [EpochTimer(), *schedule_callbacks(r)]   # data.augment.close_mosaic
    if p.finetune is not None:
        callbacks.append(p.finetune.callback())   # freeze / unfreeze at epoch starts
    callbacks += p.task.callbacks(val_batches, run.path)      # metrics first: others read their logs
    if writer:
        callbacks.append(best_last)
    if r.train.early_stopping:
        es = r.train.early_stopping
        mode = p.task.mode_of(es.monitor) if es.mode == "auto" else es.mode
        stop = keras.callbacks.EarlyStopping(monitor=es.monitor, patience=es.patience, mode=mode,
                                             min_delta=es.min_delta)
        stateful["early_stopping"] = stop
        callbacks.append(stop)
    if r.train.schedule.name == "plateau":
        s = r.train.schedule
        watched = s.monitor or ("val_loss" if p.val_data is not None else "loss")
        plateau = keras.callbacks.ReduceLROnPlateau(
            monitor=watched, mode=p.task.mode_of(watched),
            factor=s.factor or 0.1, patience=s.patience or 3, min_lr=s.min_lr or 0.0, verbose=0)
        stateful["plateau"] = plateau
        callbacks.append(plateau)
    if writer and r.train.tensorboard:
        callbacks.append(EpochTensorBoard(str(run / "tensorboard"), write_graph=False,
                                          profile_batch=0))
    if writer:
        callbacks.append(history)                 # after the metric callbacks: their logs are recorded
    backup = Backup(run / "backup", stateful, read_from=backup_from, write=writer,
                    last=best_last if writer else None)
    callbacks.append(backup)                      # last: restores the others' state after they reset
    return RunCallbacks(callbacks, history, best_last, backup, monitor, mode, stateful)


def restore(p, run, cbs: RunCallbacks, echo) -> int:
    """The epoch to start from (restoring the backup into the model and optimizer when one exists)."""
    initial_epoch = 0
    if cbs.backup.exists():
        with p.strategy.scope():
            p.model.optimizer.build(p.model.trainable_variables)
            initial_epoch = cbs.backup.restore(p.model)
        echo(f"visiontk: resuming {run.path} from epoch {initial_epoch}")
    cbs.history.load(initial_epoch)
    return initial_epoch


def weights_fingerprint(model) -> str:
    """sha256 of all weights (bitwise): equal on every worker after a synchronous run."""
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w, dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


def fit_and_finish(p: Session, run, *, verbose: int, echo):
    from visiontk.data.pipeline import build_dataset

    r = p.recipe
    multi_worker = p.multi_worker
    # the task builds its training batches (default: data.pipeline.build_dataset; metric learning:
    # P x K batches or generated pairs, on its training identities only); under multi_worker each
    # worker builds its part in train.distributed, this one only counts the epoch's images
    train_ds, n_train = p.task.training_dataset(p.train_data)
    steps = r.train.steps_per_epoch or max(1, n_train // r.train.batch_size)
    compile_model(p, steps)
    val_batches = (build_dataset(p.val_data, p.task, r, training=False, encode=False)
                   if p.val_data is not None else None)
    writer = p.writer
    work = run if writer else p.worker_dir
    # every worker restores from the chief's backup (a shared folder on a real cluster)
    backup_from = None if p.fresh else run / "backup"
    cbs = make_callbacks(p, work, val_batches, writer=writer, backup_from=backup_from)
    initial_epoch = restore(p, work, cbs, echo)

    t0 = time.perf_counter()
    if initial_epoch < r.train.epochs:
        if multi_worker:
            from visiontk.train.distributed import fit_distributed

            fit_distributed(p, cbs.callbacks, steps=steps, initial_epoch=initial_epoch,
                            verbose=verbose, run_dir=run.path)
        else:
            if r.train.steps_per_epoch:
                train_ds = train_ds.repeat()
            # None when the task scores validation in its callbacks (no Keras val_loss)
            val_ds = (p.task.validation_dataset(p.val_data)
                      if p.val_data is not None else None)
            # first: a NaN / inf loss stops the run before any epoch end saves its weights
            guard = StopOnNonFiniteLoss(run.path, r.train.optimizer.learning_rate)
            p.model.fit(train_ds, validation_data=val_ds, epochs=r.train.epochs,
                        initial_epoch=initial_epoch, steps_per_epoch=steps,
                        validation_steps=r.train.validation_steps, callbacks=[guard, *cbs.callbacks],
                        verbose=verbose, shuffle=False)
    fit_seconds = time.perf_counter() - t0
    if not writer:
        echo(f"visiontk: worker {p.cluster.index} finished; weights fingerprint "
             f"{weights_fingerprint(p.model)}")
        result = TrainResult(run.path, {}, initial_epoch)
    else:
        result = finish(p, run, cbs, fit_seconds=fit_seconds, steps=steps,
                        initial_epoch=initial_epoch, echo=echo, multi_worker=multi_worker)
    if multi_worker:
        from visiontk.train.distributed import finish_together

        finish_together(p)            # no worker leaves before the chief has written the run
    return result


def final_model(p, run):
    """The trained model to save: best weights, float32 even after mixed precision (rebuilt under
    the float32 policy with the trained weights); the task's inference form is taken from it."""
    best = run / "checkpoints" / "best.weights.h5"
    if best.is_file():
        p.model.load_weights(str(best))
    model = p.model
    if p.precision.mixed:
        from visiontk.train.model import build_model

        keras.mixed_precision.set_global_policy("float32")
        model = build_model(p.recipe, p.task)
        model.set_weights(p.model.get_weights())
    return model


def save_backbone(model, run) -> None:
    """backbone.weights.h5: the weights of the nested model named "backbone" alone (Keras 3
    save_weights), which `model.backbone.weights` of a recipe with the same backbone name, params
    and input channels loads (keras.applications backbones included), and `model.init_from` too.
    Nothing when the model has no such backbone."""
    backbone = find_backbone(model, required=False)
    if backbone is not None:
        with atomic_path(run / "backbone.weights.h5") as tmp:
            save_weights(backbone, tmp, run / "backbone.weights.h5")


def finish(p: Session, run, cbs: RunCallbacks, *, fit_seconds, steps, initial_epoch, echo, multi_worker=False):
    from visiontk.evaluate import evaluate_prepared

    r = p.recipe
    if multi_worker:
        echo(f"visiontk: worker 0 (chief) finished; weights fingerprint {weights_fingerprint(p.model)}")
    trained = final_model(p, run)
    final = p.task.inference_model(trained)
    with atomic_path(run / "model.keras") as tmp:
        final.save(str(tmp))
    save_backbone(trained, run)
    metrics = {}
    for split in ("val", "test"):
        if split in p.source.splits():
            metrics[split] = evaluate_prepared(p, final, split, run=run)
    rows = cbs.history.rows
    best = cbs.best_last
    metrics["train"] = {
        "epochs_run": len(rows), "fit_seconds": round(fit_seconds, 2),
        "best": {"monitor": cbs.monitor, "value": best.reported,
                 "epoch": best.best_epoch + 1 if best.best_epoch >= 0 else None},
        "images_per_second": _throughput(rows, steps * r.train.batch_size),
        "strategy": p.strategy_name, "replicas": p.strategy.num_replicas_in_sync,
    }
    write_json(run / "metrics.json", metrics)          # written last: marks the run finished
    cbs.backup.remove()
    echo(f"visiontk: finished {run.path}: " + summary_line(metrics, p.task.summary_metrics))
    return TrainResult(run.path, metrics, initial_epoch)


def _throughput(rows: dict, images_per_epoch: int):
    secs = sorted(r["epoch_seconds"] for r in rows.values() if "epoch_seconds" in r)
    if not secs:
        return None
    # the median epoch (the first one includes tracing and warm-up)
    return round(images_per_epoch / secs[len(secs) // 2], 1)


def summary_line(metrics: dict, names) -> str:
    """'val accuracy 0.9312, test accuracy 0.9287': the task's summary metrics of each split."""
    parts = [f"{split} {k} {metrics[split][k]:.4f}" for split in ("val", "test") for k in names
             if isinstance(metrics.get(split, {}).get(k), float)]
    return ", ".join(parts) or "done"
