"""visiontk export: the formats, their options (--opset ...) and their defaults come from the export
format registry (visiontk/export/formats/), so a new format needs no change here."""

from __future__ import annotations

import click

from visiontk.cli.app import cli
from visiontk.export import formats as export_formats


def _format_options(command):
    """One `--NAME` option per format option (e.g. --opset), default and help from the registry."""
    for option in reversed(export_formats.all_options()):
        allowed = f" ({option.allowed_text()})" if option.allowed is not None else ""
        command = click.option(f"--{option.name.replace('_', '-')}", option.name,
                               default=option.default, show_default=True, type=type(option.default),
                               help=f"{option.help}{allowed}.")(command)
    return command


@cli.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--format", "formats", multiple=True, default=("all",), show_default=True,
              type=click.Choice(["all", *export_formats.names()]),
              help="Format to write (repeat for several).")
@_format_options
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Export folder (default: export/<run name>).")
@click.option("--force", is_flag=True, help="Replace an existing export folder.")
@click.option("--tolerance", default=export_formats.DEFAULT_TOLERANCE, show_default=True, type=float,
              help="Max |difference| to Keras per output (relative for outputs larger than 1).")
@click.option("--encoder", is_flag=True,
              help="Autoencoder runs: export only the encoder (image -> code) as an embedding model "
                   "(default folder export/<run name>_encoder).")
def export_cmd(run_dir, formats, out, force, tolerance, encoder, **options):
    """Export a finished run to every format (or those of --format), verified against Keras.

    Writes the formats (SavedModel, ONNX, TFLite, ...: see --format), metadata.json (preprocessing, class names, decode settings), a copy of the
    TensorFlow-free runtime and parity.json; a format that differs from Keras by more than the
    tolerance (or decodes differently) fails the export (exit 2, files left under NAME.failed/).

    \b
    Examples:
      visiontk export runs/classify
      visiontk export runs/detect --format onnx --opset 17 --out export/detect_onnx --force
      visiontk export runs/denoise --encoder
      python export/onnx_predict.py export/classify image.png
    """
    from visiontk.export import export_run

    export_run(run_dir, formats=formats, out=out, force=force, tolerance=tolerance,
               encoder=encoder, echo=click.echo, **options)
