"""visiontk export."""

from __future__ import annotations

import click

from visiontk.cli.app import cli

FORMAT_CHOICES = ["all", "saved_model", "onnx", "tflite"]


@cli.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--format", "formats", multiple=True, default=("all",), show_default=True,
              type=click.Choice(FORMAT_CHOICES), help="Format to write (repeat for several).")
@click.option("--opset", default=17, show_default=True, type=int, help="ONNX opset (13..18).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Export folder (default: export/<run name>).")
@click.option("--force", is_flag=True, help="Replace an existing export folder.")
@click.option("--tolerance", default=1e-4, show_default=True, type=float,
              help="Max |difference| to Keras per output (relative for outputs larger than 1).")
@click.option("--encoder", is_flag=True,
              help="Autoencoder runs: export only the encoder (image -> code) as an embedding model "
                   "(default folder export/<run name>_encoder).")
def export_cmd(run_dir, formats, opset, out, force, tolerance, encoder):
    """Export a finished run to SavedModel, ONNX and TFLite, verified against Keras.

    Writes the formats, metadata.json (preprocessing, class names, decode settings), a copy of the
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

    export_run(run_dir, formats=formats, opset=opset, out=out, force=force, tolerance=tolerance,
               encoder=encoder, echo=click.echo)
