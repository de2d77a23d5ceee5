#!/usr/bin/env python3
"""Batch-1 latency of an exported model in ONNX Runtime (and TFLite) against Keras `model(x)`,
measured side by side on the same input (interleaved calls, medians).

    .venv/bin/python benchmarks/export_latency.py                       # recipes/classify.yaml model
    .venv/bin/python benchmarks/export_latency.py runs/classify --iters 300

Without RUN_DIR the recipe's model is built untrained (latency does not depend on the weights) and
exported to a temporary folder. Prints one row per backend and the ratios to ONNX Runtime.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import export_untrained, model_and_meta  # noqa: E402  (sets up sys.path and TF logging)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", nargs="?", help="a finished run (default: build --recipe's model)")
    ap.add_argument("--recipe", default="recipes/classify.yaml")
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()

    import numpy as np
    import tensorflow as tf

    from visiontk.export.formats.onnx import load_onnx
    from visiontk.export.formats.tflite import load_tflite

    model, meta, what = model_and_meta(args.run_dir, args.recipe)
    out = export_untrained(model, meta)
    x = np.random.default_rng(0).random((1, *meta["input"]["shape"]), np.float32)
    graph = tf.function(lambda t: model(t, training=False))
    fns = {
        "keras model(x)": lambda: model(x, training=False),
        "keras tf.function": lambda: graph(x),
        "onnxruntime": (lambda run: lambda: run(x))(load_onnx(out / "model.onnx")),
        "tflite": (lambda run: lambda: run(x))(load_tflite(out / "model.tflite")),
    }
    for fn in fns.values():
        for _ in range(args.warmup):
            fn()
    times: dict = {k: [] for k in fns}
    for _ in range(args.iters):                       # interleaved: load changes hit every backend
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    base = med["onnxruntime"]
    print(f"model: {what}, input {meta['input']['shape']}, {model.count_params():,} parameters, "
          f"{args.iters} interleaved batch-1 calls, load {os.getloadavg()[0]:.2f}")
    print(f"{'backend':<20}{'median ms':>11}{'p90 ms':>9}{'x onnxruntime':>15}")
    for k, v in times.items():
        p90 = sorted(v)[int(0.9 * len(v))] * 1e3
        print(f"{k:<20}{med[k]:>11.3f}{p90:>9.3f}{med[k] / base:>15.1f}")
    print(json.dumps({"model": what, "median_ms": {k: round(v, 4) for k, v in med.items()},
                      "keras_over_onnxruntime": round(med["keras model(x)"] / base, 1),
                      "tf_function_over_onnxruntime": round(med["keras tf.function"] / base, 1)}))


if __name__ == "__main__":
    main()
