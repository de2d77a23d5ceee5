"""model.fit with the run's callbacks, then the finished run: model.keras and metrics.json."""

from __future__ import annotations

import time
from pathlib import Path

import keras

from visiontk.io import atomic_path, write_json
from visiontk.train.callbacks import Backup, BestLast, History


def monitor_of(p) -> tuple[str, str]:
    """Metric for the best checkpoint: train.checkpoint_monitor, early_stopping.monitor, the task's."""
    r = p.recipe
    if r.train.checkpoint_monitor:
        name = r.train.checkpoint_monitor
    elif r.train.early_stopping:
        name = r.train.early_stopping.monitor
    else:
        name = p.task.monitor[0]
    if p.val_data is None and name.startswith("val_"):
        name = name[4:]
    mode = "min" if "loss" in name or "error" in name or name.endswith("mae") else "max"
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


def fit_and_finish(p, run, *, verbose: int, echo):
    from visiontk.data.pipeline import build_dataset
    from visiontk.train.loop import TrainResult, compile_model

    r = p.recipe
    train_ds = build_dataset(p.train_data, p.task, r, training=True)
    steps = r.train.steps_per_epoch or max(1, len(p.train_data) // r.train.batch_size)
    if r.train.steps_per_epoch:
        train_ds = train_ds.repeat()
    val_ds = None
    if p.val_data is not None:
        val_ds = build_dataset(p.val_data, p.task, r, training=False)
    compile_model(p, steps)

    monitor, mode = monitor_of(p)
    history = History(run.path)
    best_last = BestLast(run / "checkpoints", monitor, mode)
    stateful = {"best_last": best_last}
    callbacks: list = [EpochTimer(), best_last]
    if r.train.early_stopping:
        es = r.train.early_stopping
        stop = keras.callbacks.EarlyStopping(monitor=es.monitor, patience=es.patience, mode=es.mode,
                                             min_delta=es.min_delta)
        stateful["early_stopping"] = stop
        callbacks.append(stop)
    if r.train.schedule.name == "plateau":
        s = r.train.schedule
        plateau = keras.callbacks.ReduceLROnPlateau(
            monitor=s.monitor or ("val_loss" if val_ds is not None else "loss"),
            factor=s.factor or 0.1, patience=s.patience or 3, min_lr=s.min_lr or 0.0, verbose=0)
        stateful["plateau"] = plateau
        callbacks.append(plateau)
    callbacks += p.task.callbacks(
        build_dataset(p.val_data, p.task, r, training=False, encode=False) if val_ds is not None else None,
        run.path)
    if r.train.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(run / "tensorboard"), write_graph=False,
                                                     profile_batch=0))
    callbacks.append(history)            # after the metric callbacks, so their logs are recorded
    backup = Backup(run / "backup", stateful)
    callbacks.append(backup)             # last: restores the others' state after they reset

    initial_epoch = 0
    if backup.exists():
        with p.strategy.scope():
            p.model.optimizer.build(p.model.trainable_variables)
            initial_epoch = backup.restore(p.model)
        echo(f"visiontk: resuming {run.path} from epoch {initial_epoch}")
    history.load(initial_epoch)

    t0 = time.perf_counter()
    if initial_epoch < r.train.epochs:
        p.model.fit(train_ds, validation_data=val_ds, epochs=r.train.epochs,
                    initial_epoch=initial_epoch, steps_per_epoch=steps,
                    validation_steps=r.train.validation_steps, callbacks=callbacks, verbose=verbose,
                    shuffle=False)
    fit_seconds = time.perf_counter() - t0

    # the final model: best weights when a best checkpoint exists
    best = run / "checkpoints" / "best.weights.h5"
    if best.is_file():
        p.model.load_weights(str(best))
    final = p.task.inference_model(p.model)
    with atomic_path(run / "model.keras") as tmp:
        final.save(str(tmp))

    from visiontk.evaluate import evaluate_prepared

    metrics = {}
    for split in ("val", "test"):
        if split in p.source.splits():
            metrics[split] = evaluate_prepared(p, final, split, out_dir=run.path)
    rows = history.rows
    metrics["train"] = {
        "epochs_run": len(rows), "fit_seconds": round(fit_seconds, 2),
        "best": {"monitor": monitor, "value": best_last.best if best_last.best_epoch >= 0 else None,
                 "epoch": best_last.best_epoch + 1 if best_last.best_epoch >= 0 else None},
        "images_per_second": _throughput(rows, steps * r.train.batch_size),
        "strategy": p.strategy_name, "replicas": p.strategy.num_replicas_in_sync,
    }
    write_json(run / "metrics.json", metrics)          # written last: marks the run finished
    backup.remove()
    echo(f"visiontk: finished {run.path}: " + _summary(metrics))
    return TrainResult(run.path, metrics, initial_epoch)


def _throughput(rows: dict, images_per_epoch: int):
    secs = sorted(r["epoch_seconds"] for r in rows.values() if "epoch_seconds" in r)
    if not secs:
        return None
    # the median epoch (the first one includes tracing and warm-up)
    return round(images_per_epoch / secs[len(secs) // 2], 1)


def _summary(metrics: dict) -> str:
    parts = []
    for split in ("val", "test"):
        for k, v in metrics.get(split, {}).items():
            if isinstance(v, float) and k in ("accuracy", "map50", "map", "mean_iou", "mae", "psnr",
                                              "psnr_gain", "recall@1", "knn_accuracy"):
                parts.append(f"{split} {k} {v:.4f}")
    return ", ".join(parts) or "done"
