"""train(recipe): data -> strategy -> model -> fit with callbacks -> model.keras + metrics.json."""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import Callable

from visiontk.io import naming_path
from visiontk.run import RunDir, make_meta, place_run
from visiontk.train.session import Session, TrainResult, prepare


def dry_run(recipe, echo: Callable[[str], None] = print, *, force: bool = False) -> Session:
    """Print the resolved recipe, where the run would go, the strategy and the model summary; train
    and write nothing."""
    place = place_run(recipe.output, recipe.to_yaml(), force=force)     # refused here as in training
    p = prepare(recipe)
    echo("# resolved recipe")
    echo(recipe.to_yaml().rstrip())
    doing = {"new": "a new run", "resume": "resumes the unfinished run",
             "restart": "replaces the run (--force)"}[place.mode]
    echo(f"# run folder: {place.run.path} ({doing})")
    if place.note:
        echo(f"# {place.note.removeprefix('visiontk: ')}")
    echo(f"# strategy: {p.strategy_name} ({p.strategy.num_replicas_in_sync} replica(s); global batch "
         f"{recipe.train.batch_size})")
    echo(f"# precision: {p.precision.why}")
    if p.multi_worker:
        from visiontk.train.distributed import check_jit_compile

        check_jit_compile(p)                   # what training would refuse, refused here too
    lines: list[str] = []
    p.model.summary(print_fn=lambda s, **_: lines.append(s), expand_nested=False)
    echo("\n".join(lines))
    return p


class Terminated(SystemExit):
    """SIGTERM while training (the launcher stopping a job, a cluster scheduler): unwinds the stack
    like Ctrl-C so `finally` blocks run (a worker's temporary folder is removed), then exits 143
    (128 + SIGTERM) as an unhandled SIGTERM would."""


@contextmanager
def sigterm_unwinds(stopping: str = "train"):
    """Turn SIGTERM into `Terminated` in the main thread for the duration of the block; `stopping`
    names what stopped in the error line printed when it escapes the block."""
    if threading.current_thread() is not threading.main_thread():
        yield                                  # signal handlers can only be set from the main thread
        return
    raised = []

    def on_term(signum, frame):
        if not raised:                         # a second SIGTERM must not interrupt the cleanup
            raised.append(signum)
            raise Terminated(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except Terminated:
        print(f"error: {stopping}: stopped by SIGTERM; rerun the same command to resume from the last "
              "saved epoch", file=sys.stderr, flush=True)
        raise
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def train(recipe, *, force: bool = False, echo: Callable[[str], None] = print) -> TrainResult:
    """Train a validated recipe into its run directory (resuming an interrupted run). SIGTERM stops
    it like Ctrl-C (cleanup runs) with `Terminated`, a SystemExit of code 143.

    Example:
        >>> from visiontk import load_recipe, train
        >>> result = train(load_recipe("recipes/classify.yaml", ["train.epochs=1"]))  # doctest: +SKIP
        >>> result.metrics["val"]["accuracy"]  # doctest: +SKIP
    """
    with sigterm_unwinds():
        return _train(recipe, force=force, echo=echo)


def _train(recipe, *, force: bool, echo: Callable[[str], None]) -> TrainResult:
    from visiontk.progress import interactive
    from visiontk.train.fit import fit_and_finish

    # where this training goes (a finished run is kept: the next free numbered folder); decided
    # before `prepare`, whose strategy waits for every worker, so all workers see the same folders
    place = place_run(recipe.output, recipe.to_yaml(), force=force)
    if place.note:
        echo(place.note)
    run, mode = place.run, place.mode
    recipe = recipe.model_copy(update={"output": str(run.path)})    # the run records its own folder
    recipe_yaml = recipe.to_yaml()
    p = prepare(recipe)
    p.fresh = mode != "resume"
    p.train_data = p.source.load("train")
    p.val_data = p.source.load("val") if "val" in p.source.splits() else None
    echo(f"visiontk: {recipe.name}: {p.strategy_name}, {p.precision.why}, {len(p.train_data)} "
         f"training images, {len(p.val_data) if p.val_data is not None else 0} validation images -> "
         f"{run.path}")
    if not p.writer:
        # only the chief writes the run; this worker keeps its files in a folder removed at the end
        import shutil
        import tempfile

        p.worker_dir = RunDir(tempfile.mkdtemp(prefix=f"visiontk-worker{p.cluster.index}-"))
        try:
            return fit_and_finish(p, run, verbose=0, echo=echo)
        finally:
            shutil.rmtree(p.worker_dir.path, ignore_errors=True)
    with naming_path(run.path, then="; then rerun the same command to resume from the last saved "
                                    "epoch"):
        if mode == "restart":
            run.reset()
        meta = {**make_meta(recipe, p.task, p.task.info.class_names), "precision": p.precision.as_meta()}
        run.write_meta(meta)                  # first: marks the run
        run.write_recipe(recipe_yaml)
        if p.finetune is not None:
            p.finetune.start(run, echo)       # init_report.json + summary lines
        return fit_and_finish(p, run, verbose=1 if interactive() else 2, echo=echo)
