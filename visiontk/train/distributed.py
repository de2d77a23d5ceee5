"""A training loop for MultiWorkerMirroredStrategy.

Keras 3's `model.fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585: "Attempt to
convert a value (PerReplica...)", then a reduction error; reproduced here on TF 2.21 / Keras 3.15).
Calling the model's own `train_step` / `test_step` through `strategy.run` works: Keras' optimizer
all-reduces the gradients across workers, and the per-replica logs are averaged here with a
cross-worker `strategy.reduce`. The loop drives the same Keras callbacks as fit (progress bar, early
stopping, checkpoints, backup), so a run looks the same whichever strategy trained it.

Each worker builds its input pipeline with `distribute_datasets_from_function`: the same seeded
shuffle on every worker, then a shard per worker (visiontk.data.pipeline.build_dataset `shard`), so the
union of the workers' batches of one step is the global batch a single device would see.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def _per_replica_batch(ctx, global_batch: int) -> int:
    if global_batch % ctx.num_replicas_in_sync:
        from visiontk.errors import RecipeError

        raise RecipeError(f"train.batch_size: {global_batch} does not split evenly over "
                          f"{ctx.num_replicas_in_sync} replicas; use a multiple of it")
    return ctx.get_per_replica_batch_size(global_batch)


def fit_distributed(p, callbacks: list, *, steps: int, initial_epoch: int, verbose: int) -> None:
    """Train `p.model` (compiled under `p.strategy`) for the recipe's epochs with `callbacks`."""
    from visiontk.data.pipeline import build_dataset

    strategy, model, r = p.strategy, p.model, p.recipe
    global_batch = r.train.batch_size

    def train_fn(ctx):
        return build_dataset(p.train_data, p.task, r, training=True,
                             batch_size=_per_replica_batch(ctx, global_batch),
                             shard=(ctx.num_input_pipelines, ctx.input_pipeline_id)).repeat()

    def val_fn(ctx):
        return build_dataset(p.val_data, p.task, r, training=False,
                             batch_size=_per_replica_batch(ctx, global_batch),
                             shard=(ctx.num_input_pipelines, ctx.input_pipeline_id)).repeat()

    train_iter = iter(strategy.distribute_datasets_from_function(train_fn))
    val_steps = r.train.validation_steps or (len(p.val_data) // global_batch if p.val_data is not None else 0)
    val_data = strategy.distribute_datasets_from_function(val_fn) if val_steps else None

    def reduced(out):
        return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in out.items()}

    @tf.function
    def train_step(iterator):
        return reduced(strategy.run(model.train_step, args=(next(iterator),)))

    @tf.function
    def test_step(iterator):
        return reduced(strategy.run(model.test_step, args=(next(iterator),)))

    cb = keras.callbacks.CallbackList(callbacks, add_history=False, add_progbar=verbose > 0,
                                      model=model, verbose=verbose, epochs=r.train.epochs, steps=steps)
    model.stop_training = False
    cb.on_train_begin()
    for epoch in range(initial_epoch, r.train.epochs):
        for metric in model.metrics:
            metric.reset_state()
        cb.on_epoch_begin(epoch)
        logs = {}
        for step in range(steps):
            cb.on_train_batch_begin(step)
            logs = train_step(train_iter)
            cb.on_train_batch_end(step, logs)
        epoch_logs = {k: float(v) for k, v in logs.items()}
        if val_data is not None:
            for metric in model.metrics:
                metric.reset_state()
            val_iter = iter(val_data)        # the same validation batches every epoch
            for _ in range(val_steps):
                val_logs = test_step(val_iter)
            epoch_logs.update({f"val_{k}": float(v) for k, v in val_logs.items()})
        cb.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    cb.on_train_end()
