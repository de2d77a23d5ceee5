"""visiontk launch."""

from __future__ import annotations

import sys

import click

from visiontk.cli.app import cli
from visiontk.cli.recipes import RECIPE


@cli.command("launch")
@click.argument("recipe", type=RECIPE)
@click.argument("overrides", nargs=-1)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes to start on this machine.")
@click.option("--force", is_flag=True, help="Retrain in the output folder, replacing the visiontk run "
                                            "there (never a folder visiontk did not write).")
@click.option("--timeout", type=float, default=None, help="Stop all workers after this many seconds.")
def launch_cmd(recipe, overrides, workers, force, timeout):
    """Train RECIPE (a file or a shipped recipe's name) with N local workers
    (MultiWorkerMirroredStrategy on 127.0.0.1).

    Logs are prefixed with the worker; if one worker dies (or the launcher gets Ctrl-C or SIGTERM) the
    others are stopped; rerunning the same command resumes from the last saved epoch. A finished run
    is kept: the job goes to the next free numbered folder (runs/NAME-2), or with --force retrains in
    place. On a real cluster, set TF_CONFIG on each machine and run `visiontk train RECIPE` there
    (see README).

    \b
    Example:
      visiontk launch --workers 2 recipes/classify.yaml train.epochs=3
    """
    from visiontk.recipe import load_recipe
    from visiontk.train.launch import launch

    load_recipe(recipe, overrides)                 # fail fast, once, before starting workers
    sys.exit(launch(recipe, overrides, workers, force=force, echo=click.echo, timeout=timeout))
