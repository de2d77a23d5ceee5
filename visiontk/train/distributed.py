"""A training loop for MultiWorkerMirroredStrategy.

Keras 3's `model.fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585: "Attempt to
convert a value (PerReplica...)", then a reduction error; reproduced here on TF 2.21 / Keras 3.15).
Calling the model's own `train_step` / `test_step` works: `train_step` runs through `strategy.run`,
Keras' optimizer all-reduces the gradients across workers, and the per-replica logs are averaged
with a cross-worker `strategy.reduce`. The loop drives the same Keras callbacks as fit (progress
bar, early stopping, checkpoints, backup), so a run looks the same whichever strategy trained it.

Inputs come from the task, as under model.fit (one input path): each worker's pipeline is
`task.training_dataset(data, InputContext(workers, this worker, per-replica batch))` inside
`distribute_datasets_from_function`; the task shards it (the default: the same seeded shuffle on
every worker, then a shard per worker, so one step's batches of all workers are the global batch a
single device would see; metric learning: the same global P x K or pair schedule, a part per worker).

Validation: every worker runs its own shard of `task.validation_dataset` (every image once across
the workers, the last batch partial) on its own, with no collective per batch (shards may differ by
a batch: a per-step collective would wait for a batch that never comes); then one all-reduce sums
the metrics' states (totals and counts) across workers, so the figures are the single-device ones on
the same weights (the tasks' losses are per-image means and their metrics sums of counts or
confusion matrices: summing the states is exact up to float rounding, whatever the batches).

Identical weights on every worker: the gradients are all-reduced, so the trainable weights are;
the state a layer updates from its own replica's batch (batch normalisation's moving statistics,
metric learning's class centres) is averaged across the workers at every epoch end, before
validation, checkpoints and backups read it (one all-reduce an epoch; synchronised batch
normalisation costs collectives at every layer and step: docs/distributed.md has the measurement).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from visiontk.tasks.base import InputContext

BARRIER_TIMEOUT_MS = 7 * 24 * 3600 * 1000      # the chief's final evaluation has no time limit


def _per_replica_batch(replicas: int, global_batch: int) -> int:
    if global_batch % replicas:
        from visiontk.errors import RecipeError

        raise RecipeError(f"train.batch_size: {global_batch} does not split evenly over "
                          f"{replicas} replicas; use a multiple of it")
    return global_batch // replicas


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


def input_context(p) -> InputContext:
    """This worker's InputContext (its pipeline among the workers', the per-replica batch), as
    `distribute_datasets_from_function` gives it."""
    per_replica = _per_replica_batch(p.strategy.num_replicas_in_sync, p.recipe.train.batch_size)
    return InputContext(p.cluster.workers, p.cluster.pipeline, per_replica)


def training_inputs(p):
    """The distributed, endless training batches: each worker's part from `task.training_dataset`."""
    global_batch = p.recipe.train.batch_size

    def train_fn(ctx):
        context = InputContext(ctx.num_input_pipelines, ctx.input_pipeline_id,
                               _per_replica_batch(ctx.num_replicas_in_sync, global_batch))
        ds, _ = p.task.training_dataset(p.train_data, context)
        return ds.repeat()

    return p.strategy.distribute_datasets_from_function(train_fn)


def fit_distributed(p, callbacks: list, *, steps: int, initial_epoch: int, verbose: int,
                    run_dir=None) -> None:
    """Train `p.model` (compiled under `p.strategy`) for the recipe's epochs with `callbacks`. A NaN or
    infinite loss stops every worker at the same step (the loss is the cross-worker mean, the same
    on all of them) with TrainingDiverged, before any epoch end saves its weights."""
    from visiontk.train.callbacks import check_finite_loss

    strategy, model, r = p.strategy, p.model, p.recipe
    check_jit_compile(p)
    train_iter = iter(training_inputs(p))
    validate = _validator(p)

    train_steps = _multi_step(strategy, model.train_step, model)
    average_state = _state_averager(strategy, model)
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
        if average_state is not None:
            average_state()          # before validation, checkpoints and backups read the model
        if validate is not None:
            epoch_logs.update({f"val_{k}": v for k, v in validate().items()})
        cb.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    cb.on_train_end()


def _multi_step(strategy, step, model):
    """tf.function running `step` (the model's train_step) on `n` batches per call
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


# ---- validation: each worker its own batches, one all-reduce of the metric states ---------------

def _validator(p):
    """A function returning the epoch's validation logs ({name: float}, every image once across the
    workers), or None when the task validates in its callbacks (or there is no validation split)."""
    if p.val_data is None:
        return None
    local = p.task.validation_dataset(p.val_data, input_context(p))
    if local is None:
        return None
    if p.recipe.train.validation_steps:           # each worker its first batches, as on one device
        local = local.take(p.recipe.train.validation_steps)
    model, strategy = p.model, p.strategy

    @tf.function
    def run_local():
        # outside any strategy scope and replica context: the metric variables (sync-on-read)
        # update and read this worker's own copy, so no batch waits for another worker
        for batch in local:
            model.test_step(batch)

    def validate() -> dict:
        for metric in model.metrics:
            metric.reset_state()
        run_local()
        variables = [v for m in model.metrics for v in m.variables]
        for v, total in zip(variables, sum_across_workers(strategy, [v.value for v in variables])):
            v.assign(total)
        return {k: float(v) for k, v in model.get_metrics_result().items()}

    return validate


def sum_across_workers(strategy, tensors: list) -> list:
    """Each tensor summed over the workers (one all-reduce in float64: counts stay exact), each
    worker contributing its own value once whatever its number of local replicas."""
    if not tensors:
        return []
    flat = tf.concat([tf.reshape(tf.cast(t, tf.float64), [-1]) for t in tensors], 0)
    local_replicas = len(strategy.extended.worker_devices)

    def mine(ctx):
        first = ctx.replica_id_in_sync_group % local_replicas == 0
        return flat if first else tf.zeros_like(flat)

    total = strategy.reduce(tf.distribute.ReduceOp.SUM,
                            strategy.experimental_distribute_values_from_function(mine), axis=None)
    out, start = [], 0
    for t in tensors:
        size = int(tf.size(t))
        out.append(tf.cast(tf.reshape(total[start:start + size], t.shape), t.dtype))
        start += size
    return out


# ---- identical state on every worker ----------------------------------------------------------

def _state_averager(strategy, model):
    """A function setting the state that trainable layers update from their own replica's batch
    (their non-trainable weights: batch normalisation's moving statistics, metric learning's class
    centres) to its mean over the workers; None when the model has none. Frozen layers keep what
    they were given, the same on every worker."""
    state = {}
    for layer in model._flatten_layers(include_self=False):
        if layer.trainable:
            state.update({id(w): w for w in layer._non_trainable_variables})
    if not state:
        return None
    state = list(state.values())
    workers = strategy.num_replicas_in_sync // len(strategy.extended.worker_devices)

    def average():
        totals = sum_across_workers(strategy, [w.value for w in state])
        with strategy.scope():                   # every local copy of a mirrored weight
            for w, total in zip(state, totals):
                w.assign(total / workers)

    return average


def finish_together(p) -> None:
    """Every worker waits here until all of them are done (the chief after writing the run): a
    worker that exits first makes the chief's coordination service report it as crashed
    ("BaseCollectiveExecutor::StartAbort UNAVAILABLE ... The tasks have crashed") on a run that
    succeeded."""
    from tensorflow.python.eager import context   # the coordination service's barrier (no public API)

    from visiontk.errors import RunError

    try:
        context.context().wait_at_barrier("visiontk_finished", BARRIER_TIMEOUT_MS)
    except tf.errors.OpError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunError(f"multi-worker: this worker is done, but another one stopped before the end "
                       f"of the job ({first}); look at the other workers' output (the chief writes "
                       f"the run)") from None
