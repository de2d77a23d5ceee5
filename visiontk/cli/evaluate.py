"""visiontk evaluate (visiontk predict: visiontk/cli/predict.py)."""

from __future__ import annotations

import json

import click

from visiontk.cli.app import cli


@cli.command("evaluate")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("overrides", nargs=-1)
@click.option("--split", default="val", show_default=True, help="val, test or train.")
@click.option("--data", "data_path", type=click.Path(), default=None,
              help="Evaluate on the dataset at PATH instead (the recipe's data.params.path).")
def evaluate_cmd(run_dir, overrides, split, data_path):
    """Evaluate a finished run; prints the metrics and merges them into RUN_DIR/metrics.json.

    OVERRIDES change the run's recipe for this evaluation, e.g. data.params.path=/other/data
    (what --data PATH does); such figures go under "other_data" in metrics.json (and their plots to
    their own eval_SPLIT_* folder): the run's own val / test figures are kept.

    \b
    Example:
      visiontk evaluate runs/classify --split val
      visiontk evaluate runs/flowers --split test --data /data/flowers_2024
    """
    from visiontk.evaluate import evaluate

    if data_path is not None:
        overrides = (*overrides, data_path_override(run_dir, data_path))
    result = evaluate(run_dir, split, overrides)
    shown, nested = terminal_figures(result)
    click.echo(json.dumps(shown, indent=2))
    # stdout stays JSON; where the whole result went, on stderr
    if overrides:
        from visiontk.evaluate import OTHER_DATA, other_data_label

        where = f"under {OTHER_DATA} \"{other_data_label(split, overrides)}\""
    else:
        where = f"under \"{split}\""
    also = f", with {', '.join(nested)}" if nested else ""
    kept = " (the run's own figures are kept)" if overrides else ""
    click.echo(f"visiontk: stored in {run_dir}/metrics.json {where}{also}{kept}", err=True)


def terminal_figures(result: dict) -> tuple[dict, list[str]]:
    """What `visiontk evaluate` prints: the figures that fit a line (numbers, text such as the PNGs'
    paths, lists of those such as the overrides), and the names of the nested ones left to
    metrics.json (per-class tables, confusion matrices).

    Example:
        >>> terminal_figures({"map": 0.5, "ap_per_class": {"a": 0.5}, "pr_curve_png": "e/pr.png"})
        ({'map': 0.5, 'pr_curve_png': 'e/pr.png'}, ['ap_per_class'])
    """
    def scalar(value):
        return not isinstance(value, (dict, list))

    def flat(value):
        return scalar(value) or (isinstance(value, list) and all(map(scalar, value)))

    shown = {k: v for k, v in result.items() if flat(v)}
    return shown, [k for k in result if k not in shown]


def data_path_override(run_dir, data_path: str) -> str:
    """--data PATH as the override data.params.path=PATH, refused when the run's source reads no path
    (e.g. synthetic-scenes, which generates its data)."""
    from visiontk.errors import RecipeError
    from visiontk.recipe import load_recipe
    from visiontk.catalog import SOURCES, populate
    from visiontk.run import RunDir

    run = RunDir(run_dir).require()
    recipe = load_recipe(run / "recipe.yaml")
    populate()
    if "path" not in SOURCES.get(recipe.data.source).Config.model_fields:
        raise RecipeError(f"--data {data_path}: the data source '{recipe.data.source}' of "
                          f"{run / 'recipe.yaml'} reads no path (it takes no data.params.path); "
                          f"evaluate it without --data, or with overrides of its own parameters")
    from visiontk.recipe.lines import format_override

    return format_override("data.params.path", str(data_path))     # read back exactly, as a string

