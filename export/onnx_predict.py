#!/usr/bin/env python3
"""Run a visiontk export with numpy + onnxruntime + OpenCV only (no TensorFlow, no visiontk).

    python export/onnx_predict.py export/classify scene.png other.png --out preds/
    python export/onnx_predict.py export/detect street.mp4 --save street_pred.mp4
    python export/onnx_predict.py export/segment 0 --show            # camera 0, q or Esc quits

Reads EXPORT_DIR/metadata.json (input size, colour order, resize mode, class names, decode settings)
and decodes and draws with the copy of visiontk's runtime that `visiontk export` puts in
EXPORT_DIR/runtime/, so predictions equal `visiontk predict EXPORT_DIR --backend onnx`. Prints one
JSON line per image (per frame for videos and cameras). Exit code 0 on success, 2 on bad input.
Requirements: pip install numpy onnxruntime opencv-python-headless (opencv-python for --show).
"""

from __future__ import annotations

import argparse
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


class Failure(Exception):
    """Bad input: printed as one line, exit code 2."""


def load_runtime(export_dir: Path):
    """Import the runtime copy of EXPORT_DIR/runtime (else ./runtime beside this script)."""
    for folder in (export_dir / "runtime", Path(__file__).resolve().parent / "runtime"):
        if (folder / "__init__.py").is_file():
            spec = importlib.util.spec_from_file_location(
                RUNTIME_PACKAGE, folder / "__init__.py", submodule_search_locations=[str(folder)])
            module = importlib.util.module_from_spec(spec)
            sys.modules[RUNTIME_PACKAGE] = module
            spec.loader.exec_module(module)
            return module
    raise Failure(f"{export_dir}/runtime/ not found: re-export with `visiontk export` (it copies the "
                  f"decode code there)")


class OnnxModel:
    """metadata.json + model.onnx + the runtime's preprocess / decode / draw for its task."""

    def __init__(self, export_dir: Path, threads: int = 0):
        meta_path = export_dir / "metadata.json"
        model_path = export_dir / "model.onnx"
        for p in (meta_path, model_path):
            if not p.is_file():
                raise Failure(f"{p} not found: is {export_dir} a `visiontk export` folder with the "
                              f"onnx format?")
        self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        load_runtime(export_dir)
        self.preprocess = importlib.import_module(f"{RUNTIME_PACKAGE}.preprocess")
        self.outputs = importlib.import_module(f"{RUNTIME_PACKAGE}.outputs")
        self.errors = importlib.import_module(f"{RUNTIME_PACKAGE}.errors")
        try:
            self.task = importlib.import_module(f"{RUNTIME_PACKAGE}.{self.meta['task']}")
        except ModuleNotFoundError:
            raise Failure(f"the runtime copy has no decoder for task '{self.meta['task']}'") from None
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")   # as visiontk does
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.last_latency = 0.0

    def predict(self, frames_bgr: list) -> list:
        batch = self.preprocess.preprocess(frames_bgr, self.meta)
        t0 = time.perf_counter()
        raw = self.session.run(self.output_names, {self.input_name: batch})
        self.last_latency = time.perf_counter() - t0
        outputs = self.outputs.restructure(dict(zip(self.output_names, raw)), self.meta)
        return self.task.decode(outputs, self.meta, [f.shape[:2] for f in frames_bgr])

    def draw(self, frame_bgr, prediction):
        return self.task.draw(frame_bgr.copy(), prediction, self.meta)


def run_images(model: OnnxModel, files: list, out_dir, batch_size: int = 16) -> None:
    frames = {}
    for f in files:
        try:
            frames[f] = model.preprocess.read_image(f)
        except model.errors.InputError as exc:
            raise Failure(str(exc)) from None
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    for i in range(0, len(files), batch_size):
        chunk = files[i:i + batch_size]
        for f, pred in zip(chunk, model.predict([frames[f] for f in chunk])):
            print(json.dumps({"image": str(f), **pred.to_dict()}), flush=True)
            if out_dir:
                cv2.imwrite(str(Path(out_dir) / f"{Path(f).stem}_pred.png"), model.draw(frames[f], pred))


def gui_available() -> bool:
    try:
        cv2.namedWindow("onnx_predict")
        return True
    except cv2.error:
        return False


def run_stream(model: OnnxModel, source: str, save, show: bool, max_frames: int) -> None:
    """A video file or a camera, frame by frame (JSON line per frame; overlays shown or saved)."""
    cap = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not cap.isOpened():
        raise Failure(f"cannot open {'camera ' if source.isdigit() else ''}{source}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    fps = fps if 1.0 <= fps <= 240.0 else 30.0
    if show and not gui_available():
        print("note: this OpenCV has no GUI (opencv-python-headless or no display): not showing; "
              "use --save out.mp4", file=sys.stderr)
        show = False
    writer, frame_no, t_start = None, 0, time.perf_counter()
    try:
        while not max_frames or frame_no < max_frames:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            pred = model.predict([frame])[0]
            print(json.dumps({"source": source, "frame": frame_no, **pred.to_dict()}), flush=True)
            drawn = model.draw(frame, pred)
            elapsed = time.perf_counter() - t_start
            text = f"{(frame_no + 1) / max(elapsed, 1e-6):.1f} FPS  {model.last_latency * 1e3:.1f} ms"
            cv2.putText(drawn, text, (8, drawn.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (255, 255, 255), 1, cv2.LINE_AA)
            if save:
                if writer is None:
                    writer = cv2.VideoWriter(str(save), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                             (drawn.shape[1], drawn.shape[0]))
                    if not writer.isOpened():
                        raise Failure(f"cannot write {save} (unknown extension or folder missing)")
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


def is_stream(item: str) -> bool:
    p = Path(item)
    return item.isdigit() or "://" in item or (p.is_file() and p.suffix.lower() not in IMAGE_SUFFIXES)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export_dir", type=Path, help="a folder written by `visiontk export`")
    parser.add_argument("inputs", nargs="+",
                        help="image files or folders, a video file, a stream URL or a camera index")
    parser.add_argument("--out", help="folder for annotated images (*_pred.png)")
    parser.add_argument("--save", help="video file for the annotated frames of a video or camera")
    parser.add_argument("--show", action="store_true", help="show a window (needs opencv-python)")
    parser.add_argument("--max-frames", type=int, default=0, help="stop a stream after N frames")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads")
    args = parser.parse_args(argv)
    try:
        model = OnnxModel(args.export_dir, args.threads)
        streams = [i for i in args.inputs if is_stream(i)]
        images = []
        for item in (i for i in args.inputs if not is_stream(i)):
            p = Path(item)
            images += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES) \
                if p.is_dir() else [item]
        if images:
            run_images(model, images, args.out)
        for s in streams:
            run_stream(model, s, args.save, args.show, args.max_frames)
    except Exception as exc:
        if not isinstance(exc, Failure) and type(exc).__name__ != "InputError":   # the runtime's
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
