"""visiontk evaluate / predict."""

from __future__ import annotations

import json

import click

from visiontk.cli.app import cli


@cli.command("evaluate")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("overrides", nargs=-1)
@click.option("--split", default="val", show_default=True, help="val, test or train.")
def evaluate_cmd(run_dir, overrides, split):
    """Evaluate a finished run; prints the metrics and merges them into RUN_DIR/metrics.json.

    OVERRIDES change the run's recipe for this evaluation, e.g. data.params.path=/other/data.

    \b
    Example:
      visiontk evaluate runs/classify --split val
    """
    from visiontk.evaluate import evaluate

    result = evaluate(run_dir, split, overrides)
    click.echo(json.dumps(result, indent=2))


@cli.command("predict")
@click.argument("path", type=click.Path(file_okay=False))
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--backend", default="auto", show_default=True,
              help="keras | saved_model | onnx | tflite (auto: onnx for exports, else keras).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write annotated images and predictions.json here.")
def predict_cmd(path, images, backend, out_dir):
    """Run a trained model (run or export folder PATH) on IMAGES; prints one JSON line per image.

    Videos (.mp4, .avi, ...) give one line per frame (and an annotated *_pred.mp4 with --out).

    \b
    Example:
      visiontk predict runs/detect scene1.png scene2.png --out preds/
    """
    from visiontk.infer.predictor import predict_files

    for row in predict_files(path, images, backend=backend, out_dir=out_dir):
        click.echo(json.dumps(row))
