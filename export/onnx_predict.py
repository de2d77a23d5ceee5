#!/usr/bin/env python3
"""Run a visiontk export with numpy + onnxruntime + OpenCV only (no TensorFlow, no visiontk).

    python export/classify/onnx_predict.py scene.png other.png --out preds/
    python export/detect/onnx_predict.py street.mp4 --save street_pred.mp4
    python export/segment/onnx_predict.py 0 --show                   # camera 0, q or Esc quits
    python export/onnx_predict.py export/classify scene.png          # this file, given EXPORT_DIR
    python export/classify/onnx_predict.py --model model_int8.onnx scene.png   # a quantised file

`visiontk export` puts a copy of this script into each export folder: run there, it needs no
EXPORT_DIR (the folder it sits in), from any working directory. Reads EXPORT_DIR/metadata.json (input
size, colour order, resize mode, class names, decode settings) and decodes and draws with the copy of
visiontk's runtime that `visiontk export` puts in EXPORT_DIR/runtime/, so predictions equal `visiontk
predict EXPORT_DIR --backend onnx`. That folder is Python code this script imports: run only exports
you trust. Prints one JSON line per image ("image") and per frame of a video or camera ("video",
"frame"). Exit code 0 on success; 2 on bad input, with one line `error: ...` on stderr. Requirements:
pip install numpy onnxruntime opencv-python-headless (opencv-python for --show).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
RUNTIME_PACKAGE = "visiontk_export_runtime"
REEXPORT = "re-export the run with `visiontk export RUN_DIR --force`"


class Failure(Exception):
    """Bad input: printed as one line, exit code 2."""


def load_runtime(export_dir: Path):
    """Import the runtime copy of EXPORT_DIR/runtime (else ./runtime beside this script)."""
    for folder in (export_dir / "runtime", Path(__file__).resolve().parent / "runtime"):
        if (folder / "__init__.py").is_file():
            for name in [m for m in sys.modules if m.split(".")[0] == RUNTIME_PACKAGE]:
                del sys.modules[name]              # another export's copy, loaded before
            spec = importlib.util.spec_from_file_location(
                RUNTIME_PACKAGE, folder / "__init__.py", submodule_search_locations=[str(folder)])
            module = importlib.util.module_from_spec(spec)
            sys.modules[RUNTIME_PACKAGE] = module
            spec.loader.exec_module(module)
            return module
    raise Failure(f"{export_dir}/runtime/ not found (it holds the decode code); {REEXPORT}")


def runtime_module(name: str):
    """A module of the loaded runtime copy, or None when this (older) copy has none of that name."""
    try:
        return importlib.import_module(f"{RUNTIME_PACKAGE}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{RUNTIME_PACKAGE}.{name}":
            raise
        return None


def read_metadata(path: Path, checker) -> dict:
    """metadata.json, checked by the runtime's meta module (an older runtime copy has none: then
    only JSON and the task are checked here)."""
    if checker is not None:
        return checker.read_meta(path)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise Failure(f"{path} is not readable JSON ({exc}); {REEXPORT}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("task"), str):
        raise Failure(f"{path}: field 'task' is missing; {REEXPORT}")
    return meta


class OnnxModel:
    """metadata.json + model.onnx + the runtime's preprocess / decode / draw for its task."""

    def __init__(self, export_dir: Path, threads: int = 0, model: str = "model.onnx"):
        if not export_dir.is_dir():
            raise Failure(f"export folder not found: {export_dir} (write one with `visiontk export "
                          f"RUN_DIR`)")
        meta_path = export_dir / "metadata.json"
        # a bare name is a file of the export (model_int8.onnx, ...); a path is taken as given
        self.model_path = model_path = export_dir / model if Path(model).name == model else Path(model)
        for p in (meta_path, model_path):
            if not p.is_file():
                raise Failure(f"{p} not found: is {export_dir} a `visiontk export` folder with the "
                              f"onnx format?")
        load_runtime(export_dir)
        checker = runtime_module("meta")
        self.meta = read_metadata(meta_path, checker)
        self.preprocess = runtime_module("preprocess")
        self.outputs = runtime_module("outputs")
        self.opencv = runtime_module("opencv_io")       # None in an older runtime copy
        self.task = runtime_module(self.meta["task"])
        if self.task is None or not hasattr(self.task, "decode") or not hasattr(self.task, "draw"):
            raise Failure(f"{meta_path}: task '{self.meta['task']}' has no decoder in "
                          f"{export_dir}/runtime/ (unknown task, or an export of a newer visiontk); "
                          f"{REEXPORT}")
        self.session = self._session(threads)
        inp = self.session.get_inputs()[0]
        if checker is not None:
            checker.check_input_shape(inp.shape[1:], self.meta, model_path, meta_path)
        self.input_name = inp.name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.last_latency = 0.0

    def _session(self, threads: int):
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")   # as visiontk does
        if threads:
            opts.intra_op_num_threads = threads
        try:
            return ort.InferenceSession(str(self.model_path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:      # onnxruntime raises its own kinds (InvalidProtobuf, Fail, ...)
            raise Failure(f"cannot load {self.model_path}: the file is truncated, damaged or not an "
                          f"ONNX model ({type(exc).__name__}: {first_line(exc)}); {REEXPORT}") \
                from None

    def predict(self, frames_bgr: list) -> list:
        batch = self.preprocess.preprocess(frames_bgr, self.meta)
        t0 = time.perf_counter()
        try:
            raw = self.session.run(self.output_names, {self.input_name: batch})
        except Exception as exc:
            raise Failure(f"{self.model_path} failed on an input of shape {list(batch.shape)} "
                          f"({type(exc).__name__}: {first_line(exc)}); it does not fit its "
                          f"metadata.json: {REEXPORT}") from None
        self.last_latency = time.perf_counter() - t0
        outputs = self.outputs.restructure(dict(zip(self.output_names, raw)), self.meta)
        return self.task.decode(outputs, self.meta, [f.shape[:2] for f in frames_bgr])

    def draw(self, frame_bgr, prediction):
        return self.task.draw(frame_bgr.copy(), prediction, self.meta)

    def quiet(self):
        """The runtime's quiet_opencv (OpenCV's own WARN lines off), else a no-op."""
        return self.opencv.quiet_opencv() if self.opencv else contextlib.nullcontext()

    def check_save(self, save: str) -> None:
        if self.opencv:
            self.opencv.check_save_path(save)


def first_line(exc: Exception, limit: int = 160) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else ""


def run_images(model: OnnxModel, files: list, out_dir, batch_size: int = 16) -> None:
    frames = {f: model.preprocess.read_image(f) for f in files}   # every file read before output
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    for i in range(0, len(files), batch_size):
        chunk = files[i:i + batch_size]
        for f, pred in zip(chunk, model.predict([frames[f] for f in chunk])):
            print(json.dumps({"image": str(f), **pred.to_dict()}), flush=True)
            if out_dir:
                target = Path(out_dir) / f"{Path(f).stem}_pred.png"
                if not cv2.imwrite(str(target), model.draw(frames[f], pred)):
                    raise Failure(f"--out: cannot write {target}")
    if out_dir:
        print(f"onnx_predict: annotated images in {out_dir}/", file=sys.stderr)


def gui_available(model: OnnxModel) -> bool:
    try:
        with model.quiet():
            cv2.namedWindow("onnx_predict")
        return True
    except cv2.error:
        return False


def open_stream(model: OnnxModel, source: str):
    """cv2.VideoCapture of a camera index, a video file or a URL; a Failure when it does not open."""
    camera = source.isdigit()
    with model.quiet():
        cap = cv2.VideoCapture(int(source) if camera else source)
        opened = cap.isOpened()
    if not opened:
        cap.release()
        hint = ("no camera with that index (or it is busy)" if camera else
                "not a readable video (unknown codec, damaged file or unreachable stream)")
        raise Failure(f"cannot open {'camera ' if camera else ''}{source}: {hint}")
    return cap


def run_stream(model: OnnxModel, source: str, save, show: bool, max_frames: int) -> None:
    """A video file or a camera, frame by frame (JSON line per frame; overlays shown or saved)."""
    cap = open_stream(model, source)
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    fps = fps if 1.0 <= fps <= 240.0 else 30.0
    if show and not gui_available(model):
        print("note: this OpenCV has no GUI (opencv-python-headless or no display): not showing; "
              "use --save out.mp4", file=sys.stderr)
        show = False
    writer, frame_no, t_start = None, 0, time.perf_counter()
    try:
        while not max_frames or frame_no < max_frames:
            with model.quiet():
                ok, frame = cap.read()
            if not ok or frame is None:
                break
            pred = model.predict([frame])[0]
            print(json.dumps({"video": source, "frame": frame_no, **pred.to_dict()}), flush=True)
            drawn = model.draw(frame, pred)
            elapsed = time.perf_counter() - t_start
            text = f"{(frame_no + 1) / max(elapsed, 1e-6):.1f} FPS  {model.last_latency * 1e3:.1f} ms"
            cv2.putText(drawn, text, (8, drawn.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (255, 255, 255), 1, cv2.LINE_AA)
            if save:
                if writer is None:
                    writer = open_writer(model, save, fps, (drawn.shape[1], drawn.shape[0]))
                writer.write(drawn)
            if show:
                cv2.imshow("onnx_predict", drawn)
                if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                    break
            frame_no += 1
    finally:
        cap.release()
        if writer is not None:
            writer.release()
        if show:
            cv2.destroyAllWindows()
    if frame_no == 0:
        raise Failure(f"{source}: no frame could be read")
    if save:
        print(f"onnx_predict: annotated video written to {save}", file=sys.stderr)


def open_writer(model: OnnxModel, save: str, fps: float, size: tuple):
    table = model.opencv.FOURCC if model.opencv else {".avi": "MJPG", ".mkv": "MJPG"}
    fourcc = table.get(Path(save).suffix.lower(), "mp4v")
    with model.quiet():
        writer = cv2.VideoWriter(str(save), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        raise Failure(f"--save {save}: OpenCV cannot open a {fourcc} writer there")
    return writer


def split_inputs(items: list) -> tuple[list, list]:
    """(image files, streams): folders give their images; a camera index, a URL or a file that is
    not an image is a stream. Anything missing is refused before any work."""
    images, streams = [], []
    for item in items:
        p = Path(item)
        if item.isdigit() or "://" in item:
            streams.append(item)
        elif p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise Failure(f"{item}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this "
                              f"folder")
            images += found
        elif not p.is_file():
            raise Failure(f"{item}: no such file, folder, camera index or URL")
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            images.append(item)
        else:
            streams.append(item)
    return images, streams


def check_out(out) -> None:
    if out is not None and (not str(out).strip() or Path(out).exists() and not Path(out).is_dir()):
        raise Failure(f"--out {out!r}: name a folder for the annotated images")


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line (exit 2), like every other error of this script."""

    def error(self, message):
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def parse(argv):
    here = Path(__file__).resolve().parent
    parser = OneLineParser(prog="onnx_predict.py", description=__doc__.split("\n\n")[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           usage="%(prog)s [EXPORT_DIR] INPUT [INPUT ...] [options]")
    parser.add_argument("inputs", nargs="+", metavar="[EXPORT_DIR] INPUT",
                        help="a folder written by `visiontk export` (default: the one this script "
                             "is in), then image files or folders, a video file, a stream URL or a "
                             "camera index")
    parser.add_argument("--out", help="folder for annotated images (*_pred.png)")
    parser.add_argument("--save", help="video file for the annotated frames of a video or camera")
    parser.add_argument("--show", action="store_true", help="show a window (needs opencv-python)")
    parser.add_argument("--max-frames", type=int, default=0, help="stop a stream after N frames")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads")
    parser.add_argument("--model", default="model.onnx",
                        help="the ONNX file of the export to run: model.onnx (default) or a "
                             "quantised one `visiontk export --quantize` wrote (model_int8.onnx, "
                             "model_fp16.onnx)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    args = parser.parse_args(argv)
    for name in ("max_frames", "threads"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be 0 or more")
    args.export_dir, args.inputs = split_export_dir(args.inputs, here)
    if not args.inputs:
        parser.error(f"no input after the export folder {args.export_dir}: give images, folders, a "
                     f"video, a URL or a camera index")
    return args


def split_export_dir(items: list, here: Path) -> tuple[Path, list]:
    """(export folder, inputs): the first item when it is an export folder (it holds metadata.json)
    or this script is not in one; else the folder this script is in (the copy in an export)."""
    first = Path(items[0])
    if (first / "metadata.json").is_file() or not (here / "metadata.json").is_file():
        return first, items[1:]
    return here, items


def run(args) -> None:
    check_out(args.out)
    images, streams = split_inputs(args.inputs)
    model = OnnxModel(args.export_dir, args.threads, args.model)
    if args.save is not None:
        model.check_save(args.save)                # before any output
    if images:
        run_images(model, images, args.out)
    for s in streams:
        run_stream(model, s, args.save, args.show, args.max_frames)


def main(argv=None) -> int:
    """The command line; returns the exit code (0, or 2 after one `error:` line on stderr)."""
    args = parse(argv)
    try:
        run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if isinstance(exc, Failure) or type(exc).__name__ == "InputError":    # the runtime's
            message = str(exc)
        elif args.debug:
            raise
        else:   # a bug or an unexpected library error: still one line
            message = f"{type(exc).__name__}: {first_line(exc, 300)} (rerun with --debug for the " \
                      f"traceback)"
        print(f"error: {message}".replace("\n", " "), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
