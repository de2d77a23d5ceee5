"""visiontk export: the formats, their options (--opset ...) and their defaults come from the export
format registry (visiontk/export/formats/), so a new format needs no change here; so do the
--quantize modes (the formats' quantize_modes; visiontk/export/quantize.py)."""

from __future__ import annotations

import click

from visiontk.cli.app import cli
from visiontk.export import formats as export_formats
from visiontk.export import quantize as export_quantize


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
@click.option("--quantize", multiple=True, metavar="MODE",
              help=f"Also write reduced-precision copies of the formats that have them "
                   f"({', '.join(export_quantize.modes())}; repeat or give a comma list): "
                   f"model_int8.onnx, model_fp16.tflite, ... beside the float files, each checked "
                   f"on the task's headline metric on the validation split.")
@click.option("--max-metric-drop", default=export_quantize.DEFAULT_MAX_DROP, show_default=True,
              type=float, help="--quantize: the largest drop of the headline metric a quantised "
                               "file may show against its float file (absolute: accuracy 0.01 is "
                               "one point).")
@click.option("--calibration-images", default=export_quantize.DEFAULT_CALIBRATION_IMAGES,
              show_default=True, type=click.IntRange(min=1),
              help="--quantize int8: training images that calibrate the activation ranges.")
@click.option("--encoder", is_flag=True,
              help="Autoencoder runs: export only the encoder (image -> code) as an embedding model "
                   "(default folder export/<run name>_encoder).")
def export_cmd(run_dir, formats, out, force, tolerance, quantize, max_metric_drop,
               calibration_images, encoder, **options):
    """Export a finished run to every format (or those of --format), verified against Keras.

    Writes the formats (SavedModel, ONNX, TFLite, ...: see --format), metadata.json (preprocessing,
    class names, decode settings), a copy of the TensorFlow-free runtime and of onnx_predict.py (the
    folder runs on its own with numpy, onnxruntime and OpenCV) and parity.json; a format that
    differs from Keras by more than the tolerance (or decodes differently) fails the export (exit 2,
    files left under NAME.failed/).
    --quantize adds FP16 / INT8 copies of the ONNX and TFLite models (the float files stay), checked
    on accuracy instead: a drop of the task's metric above --max-metric-drop fails the export alike.

    \b
    Examples:
      visiontk export runs/classify
      visiontk export runs/detect --format onnx --opset 17 --out export/detect_onnx --force
      visiontk export runs/denoise --encoder
      visiontk export runs/classify --quantize fp16,int8
      visiontk predict export/classify/model_int8.onnx image.png
      python export/classify/onnx_predict.py image.png
    """
    from visiontk.export import export_run

    export_run(run_dir, formats=formats, out=out, force=force, tolerance=tolerance,
               encoder=encoder, quantize=quantize, max_metric_drop=max_metric_drop,
               calibration_images=calibration_images, echo=click.echo, **options)
