"""visiontk demo."""

from __future__ import annotations

import sys

import click

from visiontk.cli.app import cli


@cli.command("demo")
@click.argument("path", type=click.Path(file_okay=False))
@click.option("--source", default="0", show_default=True,
              help="Camera index, video file, stream URL (rtsp://...) or folder of images.")
@click.option("--backend", default="auto", show_default=True,
              help="onnx | keras | saved_model | tflite (auto: onnx for exports, else keras).")
@click.option("--show/--no-show", default=None,
              help="Force a window (error without a GUI) or none; default: a window when possible, "
                   "else the video is saved.")
@click.option("--save", type=click.Path(dir_okay=False), default=None,
              help="Write the annotated video here (.mp4 or .avi; the source's size and frame rate).")
@click.option("--max-frames", default=0, type=click.IntRange(min=0), help="Stop after N frames.")
@click.option("--fps-cap", default=0.0, type=click.FloatRange(min=0), help="Process at most N frames/s.")
@click.option("--gallery", type=click.Path(dir_okay=False), default=None,
              help="Metric task: .npz gallery of embeddings and names (nearest identity is shown).")
def demo_cmd(path, source, backend, show, save, max_frames, fps_cap, gallery):
    """Run a model (run or export folder PATH) live on a camera, a video or a folder, with overlays.

    q or Esc quits the window. Without a GUI (opencv-python-headless, no display) the annotated video
    is written instead (to --save, else <source>_demo.mp4). Exit code 0 at the end of the stream,
    2 when the camera cannot be opened, the stream drops or a frame cannot be read.

    \b
    Examples:
      visiontk demo export/classify                       # webcam 0, window (pip install visiontk[gui])
      visiontk demo export/detect --source street.mp4 --save street_demo.mp4
      visiontk demo runs/segment --source frames/ --no-show --save seg.mp4 --backend keras
    """
    from visiontk.infer.predictor import Predictor
    from visiontk.infer.video import run_demo
    from visiontk.runtime.errors import InputError

    predictor = Predictor(path, backend)
    if gallery:
        attach_gallery(predictor, gallery)
    result = run_demo(predictor, source, show=show, save=save, max_frames=max_frames,
                      fps_cap=fps_cap, echo=lambda m: click.echo(m, err=True))
    click.echo(result.summary())
    if result.error:
        raise InputError(result.error)
    sys.exit(0)


def attach_gallery(predictor, path) -> None:
    """Metric models: decode identifies every frame against the gallery (nearest name, distance)."""
    from visiontk.runtime.errors import InputError

    if predictor.meta.get("task") != "metric":
        raise InputError(f"--gallery is for embedding models (task: metric); this model's task is "
                         f"'{predictor.meta.get('task')}'")
    from visiontk.runtime import metric

    gallery = metric.load_gallery(path)
    threshold = predictor.meta.get("decode", {}).get("threshold")
    predictor.meta = metric.with_gallery(predictor.meta, gallery, threshold)
