"""visiontk arch list."""

from __future__ import annotations

import json

import click

from visiontk.cli.app import cli


@cli.group("arch")
def arch_group():
    """The architecture zoo."""


@arch_group.command("list")
@click.option("--params/--no-params", default=False,
              help="Build each architecture at its default input and print its parameter count.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def arch_list(params, as_json):
    """List registered architectures (with aliases; parameter counts with --params).

    \b
    Example:
      visiontk arch list --params
    """
    from visiontk.registries import ARCHITECTURES, populate

    populate()
    rows = []
    for name in ARCHITECTURES.names():
        e = ARCHITECTURES.entry(name)
        row = {"name": name, "aliases": list(e.aliases), "family": e.meta.get("family", "")}
        if params:
            from visiontk.architectures.summary import default_param_count

            row["params"] = default_param_count(name)
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        alias = f" [{', '.join(r['aliases'])}]" if r["aliases"] else ""
        count = f"  {r['params']:>13,}" if "params" in r else ""
        click.echo(f"{r['name']:<20}{count}  {r['family']}{alias}")
