"""visiontk data convert / preview: box datasets between COCO, YOLO and VOC; ground-truth grids."""

from __future__ import annotations

from pathlib import Path

import click

from visiontk.cli.app import cli

FORMATS = ("coco", "yolo", "voc")


@cli.group("data")
def data_group():
    """Box datasets: convert between formats, preview ground truth."""


def _load(source: str, fmt: str | None, names: str | None, overrides, verify: bool, *,
          split: str | None = None, limit: int | None = None):
    """A dataset folder (COCO / YOLO / VOC) or a recipe YAML (its data source, e.g. synthetic; with
    `split` and `limit`, only the first `limit` images of that split are read or generated)."""
    from visiontk.data.convert import read_dataset, read_recipe_dataset

    path = Path(source)
    if path.is_file() and path.suffix.lower() in (".yaml", ".yml"):
        from visiontk.recipe import load_recipe

        # only its data: the files the model would read (init_from, a crop classifier) need not exist
        return read_recipe_dataset(load_recipe(path, overrides, check_paths=False), split=split,
                                   limit=limit)
    if overrides:
        raise click.UsageError("--set applies to a recipe SOURCE only")
    name_list = [n.strip() for n in names.split(",") if n.strip()] if names else None
    return read_dataset(path, fmt, names=name_list, verify=verify)


_source_options = [
    click.option("--from", "fmt", type=click.Choice(FORMATS), default=None,
                 help="Input format (default: detected from the folder layout)."),
    click.option("--names", default=None,
                 help="Comma-separated class names (YOLO without classes.txt; VOC class order)."),
    click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                 help="Recipe override when SOURCE is a recipe, e.g. data.params.train_size=50."),
    click.option("--no-verify", is_flag=True,
                 help="Do not decode every image up front (sizes and damaged files unchecked)."),
]


def source_options(f):
    for opt in reversed(_source_options):
        f = opt(f)
    return f


@data_group.command("convert")
@click.argument("source")
@click.argument("dest", type=click.Path(file_okay=False))
@click.option("--to", "to_fmt", type=click.Choice(FORMATS), required=True, help="Output format.")
@click.option("--force", is_flag=True,
              help="Replace DEST when it holds a dataset visiontk converted (never another folder).")
@source_options
def convert_cmd(source, dest, to_fmt, force, fmt, names, overrides, no_verify):
    """Convert the box dataset SOURCE (a COCO / YOLO / VOC folder, or a recipe YAML whose data
    source has boxes) into DEST in another format. Everything is validated before anything is
    written; a bad annotation is named (file and entry) and DEST is left untouched. DEST gets a
    visiontk-dataset.json, by which --force recognises a dataset it may replace.

    \b
    Examples:
      visiontk data convert data/shapes_coco data/shapes_yolo --from coco --to yolo
      visiontk data convert recipes/detect.yaml data/shapes_voc --to voc --set data.params.train_size=200
    """
    from visiontk.data.convert import check_destination, summary, write_dataset

    check_destination(dest, force=force)          # before reading: a refused DEST fails at once
    ds = _load(source, fmt, names, overrides, not no_verify)
    write_dataset(ds, dest, to_fmt, force=force)
    click.echo(f"wrote {dest} ({to_fmt}): {summary(ds)}")


@data_group.command("preview")
@click.argument("source")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="The PNG (or JPG) to write.")
@click.option("--split", default="train", show_default=True)
@click.option("--count", default=16, show_default=True, type=click.IntRange(1, 400))
@click.option("--cols", default=4, show_default=True, type=click.IntRange(1, 20))
@source_options
def preview_cmd(source, out, split, count, cols, fmt, names, overrides, no_verify):
    """Draw the ground-truth boxes of SOURCE (a dataset folder or a recipe YAML) on a grid of
    images, to check that the boxes sit on the objects (a mixed-up box format shows at once).

    \b
    Examples:
      visiontk data preview data/shapes_yolo --out grid.png
      visiontk data preview recipes/detect.yaml --out grid.png --split val --count 8
    """
    from visiontk.data.convert import preview, summary

    ds = _load(source, fmt, names, overrides, not no_verify, split=split, limit=count)
    preview(ds, out, split=split, count=count, cols=cols)
    click.echo(f"wrote {out} ({min(count, len(ds.splits[split]))} {split} images): {summary(ds)}")
