"""visiontk demo."""

from __future__ import annotations

import sys

import click

from visiontk.cli.app import cli


@cli.command("demo")
@click.argument("path", type=click.Path())
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
    """Run a model (run or export folder PATH, or a model file in one) live on a camera, a video or a folder, with overlays.

    q or Esc quits the window. Without a GUI (opencv-python-headless, no display) the annotated video
    is written instead (to --save, else <source>_demo.mp4 beside a video file or folder, or
    runs/demo/camera-N_demo.mp4; never over an existing file) and the path is said. Reading, the
    model, drawing and encoding run in parallel threads; a file's frames are all processed, in
    order, a camera's stale frames are skipped. Exit code 0 at the end of the stream, 2 when the
    camera cannot be opened, the stream drops, a frame cannot be read or a stage fails (one line),
    130 on Ctrl-C; the video written so far is always closed and playable.

    \b
    Examples:
      visiontk demo export/classify                       # webcam 0, window (pip install visiontk[gui])
      visiontk demo export/detect --source street.mp4 --save street_demo.mp4
      visiontk demo runs/segment --source frames/ --no-show --save seg.mp4 --backend keras
    """
    from visiontk.infer.predictor import Predictor
    from visiontk.infer.video import run_demo
    from visiontk.runtime.opencv_io import check_save_path
    from visiontk.runtime.errors import InputError

    if save is not None:
        check_save_path(save)                     # before the model loads
    predictor = with_gallery(path, backend, gallery) if gallery else Predictor(path, backend)
    result = run_demo(predictor, source, show=show, save=save, max_frames=max_frames,
                      fps_cap=fps_cap, echo=lambda m: click.echo(m, err=True))
    click.echo(result.summary())
    if result.error:
        raise InputError(result.error)
    sys.exit(0)


def with_gallery(path, backend: str, gallery):
    """A metric model's Predictor whose decode names the nearest gallery identity (or "unknown"
    past the model's threshold); a gallery made with another model is refused."""
    from visiontk.infer.gallery import Embedder
    from visiontk.runtime.metric import load_gallery
    from visiontk.runtime.metric import with_gallery as attach

    g = load_gallery(gallery)                     # before the model loads: refuse early
    embedder = Embedder(path, backend)
    embedder.check_gallery(g, gallery)
    predictor = embedder.predictor
    predictor.meta = attach(predictor.meta, g, embedder.threshold())
    return predictor
