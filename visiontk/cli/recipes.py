"""visiontk recipes list / show / copy, and RECIPE: the recipe argument of train, recipe check and
launch (a path, or the bare name of a shipped recipe; see visiontk.shipped.resolve_recipe)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from visiontk.cli.app import cli


class RecipeArgument(click.ParamType):
    """A recipe file, or a bare name resolved by visiontk.shipped.resolve_recipe; when the name meant
    another file than itself, the line saying which goes to stderr."""

    name = "recipe"

    def convert(self, value, param, ctx):
        from visiontk.shipped import resolve_recipe

        path, said = resolve_recipe(str(value))
        if said:
            click.echo(said, err=True)
        return path

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        from visiontk.shipped import recipe_names

        names = [CompletionItem(n) for n in recipe_names() if n.startswith(incomplete)]
        return names + [CompletionItem(incomplete, type="file")]


RECIPE = RecipeArgument()


@cli.group("recipes")
def recipes_group():
    """The recipes that ship with visiontk (train one by its bare name: visiontk train detect)."""


@recipes_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def recipes_list(as_json):
    """List the shipped recipes: name, task, data, training time here (2 CPU cores), description.

    \b
    Examples:
      visiontk recipes list
      visiontk train detect
    """
    from visiontk.shipped import recipes

    rows = recipes()
    if as_json:
        click.echo(json.dumps([{"name": r.name, "task": r.task, "data": r.data, "time": r.time,
                                "description": r.description, "path": str(r.path)} for r in rows],
                              indent=2))
        return
    table = [("name", "task", "data", "time here", "description")]        # the time's figure only:
    table += [(r.name, r.task, r.data, r.time.split(" (")[0], r.description) for r in rows]  # --json has its machine
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4])


@recipes_group.command("show")
@click.argument("name")
def recipes_show(name):
    """Print the shipped recipe NAME (its YAML, comments included).

    \b
    Example:
      visiontk recipes show detect
    """
    from visiontk.shipped import find_recipe

    click.echo(find_recipe(name).path.read_text(encoding="utf-8"), nl=False)


@recipes_group.command("copy")
@click.argument("name")
@click.argument("folder", default=".", type=click.Path(file_okay=False))
def recipes_copy(name, folder):
    """Copy the shipped recipe NAME into FOLDER (default: here) as NAME.yaml, to edit. An existing
    file is never replaced.

    \b
    Examples:
      visiontk recipes copy detect
      visiontk train detect.yaml train.epochs=5
    """
    from visiontk.errors import RecipeError
    from visiontk.shipped import find_recipe

    recipe = find_recipe(name)
    target = Path(folder) / recipe.path.name
    if target.exists() or target.is_symlink():
        raise RecipeError(f"{target} exists; not replacing it: remove or rename it, or copy into "
                          f"another folder (visiontk recipes copy {recipe.name} FOLDER)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "xb") as out:             # "x": fails rather than replace a file made meanwhile
        out.write(recipe.path.read_bytes())
    click.echo(f"visiontk: copied the shipped recipe {recipe.name} to {target}; edit it, then "
               f"visiontk train {target}")
