"""visiontk train / recipe check."""

from __future__ import annotations

import click

from visiontk.cli.app import cli
from visiontk.cli.recipes import RECIPE


@cli.command("train")
@click.argument("recipe", type=RECIPE)
@click.argument("overrides", nargs=-1)
@click.option("--dry-run", is_flag=True, help="Print the resolved recipe, strategy and model summary; "
                                              "train nothing, write nothing.")
@click.option("--force", is_flag=True, help="Retrain in the output folder, replacing the visiontk run "
                                            "there (never a folder visiontk did not write). Without "
                                            "it a finished run is kept and the new one goes to the "
                                            "next free numbered folder.")
def train_cmd(recipe, overrides, dry_run, force):
    """Train RECIPE (a YAML file, or the name of a shipped recipe: visiontk recipes list); OVERRIDES
    are key.sub=value pairs.

    Each override sets one field of the recipe, and its value is YAML, read as in the recipe:
    numbers, true/false, null (no value: model.init_from=null), lists [a, b], mappings {k: v},
    'quoted text'. Quote an override with spaces or braces for the shell. NaN and infinity are
    refused.

    Rerunning the same command after a crash resumes from the last finished epoch. A finished
    run is kept: the new one goes to runs/NAME-2 (then -3, ...); --force retrains in place, and
    replaces only a folder that visiontk wrote as a run.

    \b
    Examples:
      visiontk train detect
      visiontk train recipes/detect.yaml
      visiontk train recipes/classify.yaml train.epochs=3 train.optimizer.learning_rate=0.01
      visiontk train recipes/classify.yaml "model.backbone={name: lenet5, weights: none}"
      visiontk train recipes/classify.yaml --dry-run
    """
    from visiontk.recipe import load_recipe

    r = load_recipe(recipe, overrides)
    if dry_run:
        from visiontk.train.loop import dry_run as run_dry

        run_dry(r, echo=click.echo, force=force)
        return
    from visiontk.train.loop import train

    train(r, force=force, echo=click.echo)


@cli.group("recipe")
def recipe_group():
    """Work with recipe files."""


@recipe_group.command("check")
@click.argument("recipe", type=RECIPE)
@click.argument("overrides", nargs=-1)
@click.option("--print", "show", is_flag=True, help="Print the resolved recipe.")
def recipe_check(recipe, overrides, show):
    """Validate RECIPE (a file or a shipped recipe's name), with OVERRIDES (key.sub=value, YAML
    values as for `train`), without starting TensorFlow; a model.init_from that does not exist is
    refused too.

    \b
    Example:
      visiontk recipe check recipes/detect.yaml train.epochs=2
    """
    from visiontk.recipe import load_recipe

    r = load_recipe(recipe, overrides)
    if show:
        click.echo(r.to_yaml().rstrip())
    click.echo(f"ok: {recipe} (task {r.task}, backbone {r.model.backbone.name}, data {r.data.source}, "
               f"output {r.output})")
