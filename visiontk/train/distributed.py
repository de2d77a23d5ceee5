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


def check_jit_compile(p) -> None:
    """`train.jit_compile` under multi-worker needs GPU workers: XLA cannot compile the cross-worker
    all-reduce on CPU (TensorFlow 2.21: "Collectives are not yet implemented for CPU devices when
    compiling with XLA", then the process aborts), so refuse before training starts."""
    devices = p.strategy.extended.worker_devices
    if p.recipe.train.jit_compile and any("CPU" in d.upper().rsplit("/", 1)[-1] for d in devices):
        from visiontk.errors import RecipeError

        raise RecipeError("train.jit_compile: true needs GPU workers under MultiWorkerMirroredStrategy "
                          "(XLA cannot compile the cross-worker all-reduce on CPU; workers here use "
                          f"{', '.join(d.rsplit('/', 1)[-1] for d in devices)}); set "
                          "train.jit_compile=false")


def fit_distributed(p, callbacks: list, *, steps: int, initial_epoch: int, verbose: int,
                    run_dir=None) -> None:
    """Train `p.model` (compiled under `p.strategy`) for the recipe's epochs with `callbacks`. A NaN or
    infinite loss stops every worker at the same step (the loss is the cross-worker mean, the same
    on all of them) with TrainingDiverged, before any epoch end saves its weights."""
    from visiontk.data.pipeline import build_dataset
    from visiontk.train.callbacks import check_finite_loss

    strategy, model, r = p.strategy, p.model, p.recipe
    check_jit_compile(p)
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

    train_steps = _multi_step(strategy, model.train_step, model)
    test_steps = _multi_step(strategy, model.test_step, model)
    per_call = r.train.steps_per_execution

    cb = keras.callbacks.CallbackList(callbacks, add_history=False, add_progbar=verbose > 0,
                                      model=model, verbose=verbose, epochs=r.train.epochs, steps=steps)
    model.stop_training = False
    cb.on_train_begin()
    for epoch in range(initial_epoch, r.train.epochs):
        for metric in model.metrics:
            metric.reset_state()
        cb.on_epoch_begin(epoch)
        logs = {}
        for first in range(0, steps, per_call):
            n = min(per_call, steps - first)
            cb.on_train_batch_begin(first)
            logs = train_steps(train_iter, tf.constant(n))
            check_finite_loss(logs, epoch=epoch, step=first + n - 1, run_dir=run_dir or r.output,
                              learning_rate=r.train.optimizer.learning_rate)
            cb.on_train_batch_end(first + n - 1, logs)
        epoch_logs = {k: float(v) for k, v in logs.items()}
        if val_data is not None:
            for metric in model.metrics:
                metric.reset_state()
            val_iter = iter(val_data)        # the same validation batches every epoch
            for first in range(0, val_steps, per_call):
                val_logs = test_steps(val_iter, tf.constant(min(per_call, val_steps - first)))
            epoch_logs.update({f"val_{k}": float(v) for k, v in val_logs.items()})
        cb.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    cb.on_train_end()


def _multi_step(strategy, step, model):
    """tf.function running `step` (the model's train_step or test_step) on `n` batches per call
    (`train.steps_per_execution`), returning the last step's logs averaged across replicas. The
    per-replica step is XLA-compiled when the model was compiled with `jit_compile` (as Keras' fit
    does: `model.jit_compile` is off where Keras found the model or op determinism unfit for XLA)."""
    replica_step = tf.function(step, jit_compile=True, reduce_retracing=True) if model.jit_compile else step

    def one(iterator):
        out = strategy.run(replica_step, args=(next(iterator),))
        return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in out.items()}

    @tf.function
    def steps(iterator, n):
        for _ in tf.range(n - 1):      # the metrics accumulate: only the last step's logs are needed
            strategy.run(replica_step, args=(next(iterator),))
        return one(iterator)

    return steps
