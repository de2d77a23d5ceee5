"""visiontk arch list / arch show."""

from __future__ import annotations

import json

import click

from visiontk.cli.app import cli


@cli.group("arch")
def arch_group():
    """The architecture zoo."""


@arch_group.command("list")
@click.option("--params/--no-params", default=True,
              help="Parameter counts at each builder's default input (built once, then cached; "
                   "--no-params lists names only, instantly).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def arch_list(params, as_json):
    """List registered architectures with aliases, family and parameter count.

    The first listing builds every network once (about 1.5 min on 2 CPU cores); the counts are
    cached in ~/.cache/visiontk and rebuilt only for builders that changed.

    \b
    Example:
      visiontk arch list
      visiontk arch list --no-params --json
    """
    from visiontk.catalog import ARCHITECTURES, populate

    populate()
    names = ARCHITECTURES.names()
    counts = param_counts(names) if params else {}
    rows = []
    for name in names:
        e = ARCHITECTURES.entry(name)
        row = {"name": name, "aliases": list(e.aliases), "family": e.meta.get("family", "")}
        if name in counts:
            row["params"] = counts[name]
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        alias = f" [{', '.join(r['aliases'])}]" if r["aliases"] else ""
        count = f"  {r['params']:>13,}" if "params" in r else ""
        click.echo(f"{r['name']:<20}{count}  {r['family']}{alias}")


def param_counts(names) -> dict:
    """The cached parameter counts; networks not counted yet are built with progress shown: a bar
    naming each on a terminal, else one line on stderr (stdout stays the listing)."""
    from contextlib import ExitStack

    from visiontk.architectures.summary import cached_param_counts, param_cache_file
    from visiontk.progress import interactive, stages

    with ExitStack() as stack:
        begin = []

        def start(missing):
            what = f"building {len(missing)} architectures once to count their parameters"
            if not interactive():
                click.echo(f"visiontk: {what} (about 2 s each on 2 CPU cores; kept in "
                           f"{param_cache_file()} for next time; --no-params lists at once)", err=True)
            begin.append(stack.enter_context(stages(what, len(missing))))

        return cached_param_counts(names, on_missing=start, on_build=lambda name: begin[0](name))


def _params(values) -> dict:
    import yaml

    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--param")
        out[key.strip()] = yaml.safe_load(value)
    return out


@arch_group.command("show")
@click.argument("name")
@click.option("--input", "input_shape", metavar="H,W,C",
              help="Input shape (default: the builder's, or the paper's with --compare-paper).")
@click.option("--classes", type=click.IntRange(min=1), help="Number of classes of the top.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A builder argument, e.g. --param aux_logits=true (repeatable).")
@click.option("--compare-paper", "compare_paper", is_flag=False, flag_value="paper", default=None,
              metavar="[=NAME]",
              help="Print the paper's output shapes and parameters beside ours, with differences "
                   "(=NAME: another reference table of the entry, e.g. --compare-paper=keras).")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def arch_show(name, input_shape, classes, params, compare_paper, as_json):
    """Per-layer (GoogLeNet: per-module) output shapes and parameters, with the total.

    \b
    Examples:
      visiontk arch show resnet18 --input 64,64,3 --classes 10
      visiontk arch show googlenet --compare-paper
      visiontk arch show googlenet --param aux_logits=true --json
    """
    from visiontk.architectures.summary import architecture_table, format_table, parse_input

    table = architecture_table(name, parse_input(input_shape), classes, _params(params),
                               compare_paper=compare_paper or False)
    click.echo(json.dumps(table, indent=2) if as_json else format_table(table))
