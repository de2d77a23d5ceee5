"""visiontk predict: a model over images, folders, globs, lists, videos, cameras and streams."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path

import click

from visiontk.cli.app import cli


@cli.command("predict")
@click.argument("path", type=click.Path())
@click.argument("sources", nargs=-1, required=True)
@click.option("--backend", default="auto", show_default=True,
              help="keras | saved_model | onnx | tflite (auto: onnx for exports, else keras).")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1, 4096),
              help="Images per model call.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "coco"]), default=None,
              help="jsonl (one JSON object per image; default), csv (flat columns per task) or "
                   "coco "
                   "(COCO detection results JSON for pycocotools; detection and localization). "
                   "Default: csv when --out ends in .csv, else jsonl.")
@click.option("--out", "out", type=click.Path(), default=None,
              help="Write the predictions to this file instead of stdout. A folder (an existing "
                   "one, or a name without a suffix) is taken as --save-dir, as before.")
@click.option("--save-dir", type=click.Path(file_okay=False), default=None,
              help="Write annotated copies here (*_pred.png, videos *_pred.mp4) and "
                   "predictions.json.")
@click.option("--force", is_flag=True,
              help="Replace the --out file when it holds predictions visiontk wrote.")
@click.option("--strict", is_flag=True,
              help="Stop at the first unreadable input (exit 2) instead of skipping it.")
@click.option("--conf", type=click.FloatRange(0, 1), default=None,
              help="Score threshold of the boxes (default: the model's; with --format coco the "
                   "threshold `visiontk evaluate` uses for mAP, 0.001 unless the recipe sets "
                   "model.head.eval_score_threshold; a box is then written once per class "
                   "reaching it, as evaluation does).")
@click.option("--split", default="val", show_default=True,
              help="With a COCO dataset folder as SOURCE: the split whose images (and ids) to use.")
@click.option("--max-frames", default=0, type=click.IntRange(0), show_default=True,
              help="At most this many frames of each video, camera or stream (0: all; a camera "
                   "runs until Ctrl-C).")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Threads that read and resize batches of images; with ONNX Runtime each also "
                   "runs the model on its batch. Default: ONNX Runtime: one per core, at most 4; "
                   "other backends: one per 4 cores.")
@click.option("--threads", type=click.IntRange(1, 1024), default=None,
              help="CPU threads of each model call (ONNX Runtime, TFLite; TensorFlow's when it "
                   "has not started). Default: ONNX Runtime: the cores shared among the workers; "
                   "other backends: the runtime's own, one per core.")
def predict_cmd(path, sources, backend, batch_size, fmt, out, save_dir, force, strict, conf, split,
                max_frames, workers, threads):
    """Run a trained model (run or export folder PATH, or a model file in one: .keras, .onnx,
    .tflite) on SOURCES; prints one JSON line per image (or writes --out FILE).

    A SOURCE is an image, a folder (its images, recursively), a quoted glob ('data/**/*.jpg'), a
    .txt file of paths (one per line), a video, a camera index (0) or a stream URL (rtsp://...).
    Videos and streams give one line per frame, with "video" and "frame". Images are decoded in a
    background thread and predicted in batches; memory stays flat however many there are. An
    unreadable file is named on stderr and skipped (counted at the end); --strict stops at it.
    stdout holds only the predictions; progress (on a terminal) and messages go to stderr.

    \b
    Examples:
      visiontk predict runs/detect scene1.png scene2.png --save-dir preds/
      visiontk predict export/classify photos/ --out predictions.csv
      visiontk predict runs/detect data/shapes_coco --format coco --out results.json
      visiontk predict export/classify 0 --max-frames 100
    """
    from visiontk.infer.backends import model_threads
    from visiontk.infer.bulk import predict_sources, thread_plan
    from visiontk.infer.inputs import open_sources
    from visiontk.infer.load import resolve
    from visiontk.infer.predictor import Predictor
    from visiontk.infer.writers import WRITERS, format_for
    from visiontk.progress import interactive

    out, save_dir = _out_and_save_dir(out, save_dir)
    fmt = format_for(fmt, out)
    if out is not None:
        _check_out(out, force)
    target = resolve(path, backend)          # a wrong PATH, then a bad SOURCE, fail before loading
    opened = open_sources(sources, split=split)
    threads, workers = thread_plan(target.backend, threads, workers)
    with model_threads(threads):
        predictor = Predictor(path, backend)
    _set_threshold(predictor, fmt, conf)
    total = (sum(s.count() or 0 for s in opened) or None) if interactive() else None
    with ExitStack() as stack:
        stream = sys.stdout if out is None else _atomic_text(stack, out)
        writer = WRITERS[fmt](stream, predictor.meta)
        annotated = _annotated(stack, save_dir, predictor)
        summary = predict_sources(predictor, opened, [writer], batch_size=batch_size,
                                  annotated=annotated, strict=strict, max_frames=max_frames,
                                  warn=lambda line: click.echo(line, err=True), total=total,
                                  workers=workers)
        if summary.images + summary.frames == 0 and summary.skipped:
            from visiontk.errors import DataError

            raise DataError(f"none of the inputs could be read ({summary.skipped} unreadable, "
                            f"named above); nothing was written")
        writer.close()
        if annotated is not None:
            annotated.close()
    stream_flush()
    if interactive() or summary.skipped:
        click.echo(summary.line(), err=True)
    if out is not None:
        click.echo(f"visiontk: predictions ({fmt}) written to {out}", err=True)
    if save_dir is not None:
        click.echo(f"visiontk: annotated images (*_pred.png, videos *_pred.mp4) and "
                   f"predictions.json written to {save_dir}", err=True)


def _out_and_save_dir(out, save_dir):
    """(--out FILE or None, --save-dir or None); --out naming a folder is the old --save-dir."""
    from visiontk.errors import RunError

    if out is not None and not str(out).strip():
        raise RunError(f"--out {str(out)!r}: name a file for the predictions (or a folder for the "
                       f"annotated images)")
    if out is not None and (Path(out).is_dir() or not Path(out).suffix):
        if save_dir is not None:
            raise RunError(f"--out {out} names a folder (the old --save-dir) and --save-dir is "
                           f"given too; pass --out FILE.jsonl (or .csv, .json) for the predictions")
        return None, Path(out)
    if save_dir is not None and not str(save_dir).strip():
        raise RunError("--save-dir '': name a folder for the annotated images")
    return (Path(out) if out is not None else None), (Path(save_dir) if save_dir else None)


def _check_out(out: Path, force: bool) -> None:
    """An existing --out file is replaced with --force only, and only when visiontk wrote it."""
    from visiontk.errors import RunError
    from visiontk.infer.writers import looks_like_predictions
    from visiontk.owned import check_replaceable

    if out.exists() and not force:
        raise RunError(f"--out {out} exists; pass --force to replace it (a file of predictions "
                       f"visiontk wrote), or choose another name")
    check_replaceable(out, what="a file of predictions visiontk wrote",
                      is_ours=looks_like_predictions, error=RunError)


def _annotated(stack: ExitStack, save_dir, predictor):
    """The Annotated writer of --save-dir (None without it); its predictions.json is removed when
    the run fails."""
    if save_dir is None:
        return None
    from visiontk.infer.annotated import Annotated

    annotated = Annotated(save_dir, predictor)
    stack.push(lambda kind, exc, tb: annotated.close(ok=False) if kind is not None else None)
    return annotated


def _atomic_text(stack: ExitStack, out: Path):
    """A text file written under a temporary name, renamed onto `out` when the block succeeds."""
    from visiontk.io import atomic_path

    tmp = stack.enter_context(atomic_path(out))
    return stack.enter_context(open(tmp, "w", encoding="utf-8", newline=""))


def _set_threshold(predictor, fmt: str, conf) -> None:
    """--conf, or for --format coco the threshold evaluation traces the PR curve with, as the
    predictor's box score threshold; --format coco also decodes as evaluation does (a box once per
    class reaching the threshold, model.head.eval_multi_label). The predictor's metadata is a
    copy; the files are not touched."""
    from visiontk.errors import RunError
    from visiontk.infer.writers import BOX_TASKS

    task = predictor.meta["task"]
    if fmt == "coco" and task not in BOX_TASKS:
        raise RunError(f"--format coco writes boxes: {predictor.model_file} is a {task} model; use "
                       f"--format jsonl or csv")
    decode = dict(predictor.meta.get("decode", {}))
    if fmt == "coco":
        head = eval_settings(predictor)
        conf = head["eval_score_threshold"] if conf is None else conf
        if "score_threshold" in decode:
            decode["multi_label"] = head["eval_multi_label"]
    if conf is not None and "score_threshold" in decode:
        decode["score_threshold"] = conf
    predictor.meta = {**predictor.meta, "decode": decode}


def eval_settings(predictor) -> dict:
    """How `visiontk evaluate` decodes boxes for mAP: eval_score_threshold and eval_multi_label
    from the run's recipe (model.head; for an export, the run it came from when it is still
    there), else the detection head's defaults."""
    import yaml

    from visiontk.tasks.detection.config import DetectionHead

    keys = ("eval_score_threshold", "eval_multi_label")
    out = {k: DetectionHead.model_fields[k].default for k in keys}
    run = predictor.folder
    source = predictor.meta.get("source_run")
    for folder in (run, Path(source) if isinstance(source, str) else None):
        recipe = folder / "recipe.yaml" if folder is not None else None
        if recipe is not None and recipe.is_file():
            try:
                head = (yaml.safe_load(recipe.read_text(encoding="utf-8")) or {})["model"]["head"]
                out["eval_score_threshold"] = float(head.get("eval_score_threshold",
                                                             out["eval_score_threshold"]))
                out["eval_multi_label"] = bool(head.get("eval_multi_label", out["eval_multi_label"]))
            except (yaml.YAMLError, KeyError, TypeError, ValueError, OSError):
                pass
            return out
    return out


def stream_flush() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
