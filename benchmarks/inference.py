#!/usr/bin/env python3
"""Batch-1 and batch-32 latency and throughput per inference backend (Keras call, tf.function,
SavedModel, ONNX Runtime, TFLite, OpenCV cv2.dnn) for three exported models, calls interleaved.

    .venv/bin/python benchmarks/inference.py                        # classifier, detector, U-Net
    .venv/bin/python benchmarks/inference.py --models classify --iters 300 --iters32 50
    .venv/bin/python benchmarks/inference.py --quick                # the `make bench` subset

Each model is built untrained from its recipe (recipes/classify.yaml, recipes/detect.yaml, and
recipes/segment.yaml or the U-Net of benchmarks/_common.py; latency does not depend on the weights)
and exported with visiontk.export (SavedModel, ONNX, TFLite, parity-checked) to a temporary folder.
Every backend gets its own runner per batch size (TFLite and cv2.dnn reallocate on a shape change),
and one call of each backend per round, in turn. Ratios are to ONNX Runtime at the same batch.
cv2.dnn reads model.onnx; its max |diff| to ONNX Runtime is printed (a wrong answer is no speed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (export_untrained, interleave, machine_line, median, model_and_meta,  # noqa: E402
                     summary, table)


def cv2_runner(path: Path):
    """fn(batch) -> {output name: array} through cv2.dnn, or the reason it cannot run."""
    import cv2

    try:
        net = cv2.dnn.readNetFromONNX(str(path))
        names = list(net.getUnconnectedOutLayersNames())
    except cv2.error as exc:
        return f"cv2.dnn cannot read it: {str(exc).strip().splitlines()[-1][:100]}"

    def run(batch):
        net.setInput(batch)
        return dict(zip(names, net.forward(names)))

    return run


def backends(model, out: Path, batch: int) -> dict:
    """{backend: fn(x)} for one batch size (fresh runners: no reallocation between sizes)."""
    import numpy as np
    import tensorflow as tf

    from visiontk.export.formats.onnx import load_onnx
    from visiontk.export.formats.saved_model import load_saved_model
    from visiontk.export.formats.tflite import load_tflite

    graph = tf.function(lambda t: model(t, training=False))
    fns = {"keras model(x)": lambda x: model(x, training=False),
           "keras tf.function": graph,
           "SavedModel": load_saved_model(out / "saved_model"),
           "onnxruntime": load_onnx(out / "model.onnx"),
           "TFLite": load_tflite(out / "model.tflite"),
           "cv2.dnn": cv2_runner(out / "model.onnx")}
    x = np.random.default_rng(batch).random((batch, *model.input_shape[1:]), np.float32)
    fns = {k: v for k, v in fns.items() if not isinstance(v, str) or print(f"  {k}: {v}")}
    if "cv2.dnn" in fns:
        ref, got = fns["onnxruntime"](x), fns["cv2.dnn"](x)
        try:
            diff = max(float(np.abs(np.asarray(got[k]).reshape(ref[k].shape) - ref[k]).max())
                       for k in ref)
        except (KeyError, ValueError) as exc:
            diff = f"outputs differ: {exc}"
        fns["cv2.dnn"].diff = diff
    return {k: (lambda f: lambda: f(x))(f) for k, f in fns.items()}, fns


def bench_model(name: str, args) -> tuple[list, dict]:
    model, meta, what = model_and_meta(None, name)
    out = export_untrained(model, meta)
    times, diff = {}, "-"
    for batch, iters in ((1, args.iters), (32, args.iters32)):
        calls, raw = backends(model, out, batch)
        times[batch] = interleave(calls, iters, warmup=args.warmup)
        if "cv2.dnn" in raw:
            diff = raw["cv2.dnn"].diff
    base1, base32 = (median(times[b]["onnxruntime"]) for b in (1, 32))
    rows, res = [], {}
    for k in times[1]:
        t1, t32 = times[1][k], times[32].get(k)
        rows.append([k, summary(t1, 1e3, 3), f"{median(t1) / base1:.2f}",
                     summary(t32, 1e3, 2) if t32 else "-",
                     f"{32 / median(t32):.0f}" if t32 else "-",
                     f"{median(t32) / base32:.2f}" if t32 else "-"])
        res[k] = {"b1_ms": round(median(t1) * 1e3, 3), "b1_x_onnx": round(median(t1) / base1, 2),
                  "b32_ms": round(median(t32) * 1e3, 2) if t32 else None}
    print(f"\n{what}: input {meta['input']['shape']}, {model.count_params():,} parameters; "
          f"{args.iters} batch-1 / {args.iters32} batch-32 interleaved calls; "
          f"cv2.dnn max |diff| to onnxruntime: {diff if isinstance(diff, str) else f'{diff:.1e}'}")
    print(table(["backend", "batch-1 ms", "x onnxrt", "batch-32 ms", "batch-32 img/s", "x onnxrt"],
                rows))
    return rows, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--models", default="classify,detect,segment",
                    help="comma list of classify, detect, segment (or recipe paths)")
    ap.add_argument("--iters", type=int, default=100, help="batch-1 calls per backend")
    ap.add_argument("--iters32", type=int, default=20, help="batch-32 calls per backend")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="classifier only, 50 / 10 calls")
    args = ap.parse_args()
    if args.quick:
        args.models, args.iters, args.iters32 = "classify", 50, 10
    print(machine_line())
    res = {name: bench_model(name, args)[1] for name in args.models.split(",")}
    print(json.dumps({"inference": res}))


if __name__ == "__main__":
    main()
