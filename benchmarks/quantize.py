#!/usr/bin/env python3
"""FP32 against FP16 and INT8 exports, side by side in one run: batch-1 latency per backend (ONNX
Runtime, TFLite interpreter), file sizes and the drop of the task's headline metric.

    .venv/bin/python benchmarks/quantize.py runs/classify runs/detect runs/segment   # trained runs
    .venv/bin/python benchmarks/quantize.py                  # tiny runs of the three recipes
    .venv/bin/python benchmarks/quantize.py --models classify --iters 100

Each run is exported with `visiontk export --format onnx,tflite --quantize fp16,int8` (into a
temporary folder, with --max-metric-drop large enough to keep every file, so the drop is reported
rather than enforced); the metric figures are the export's own check (parity.json: the task's
evaluation of each file on the run's validation split). Without run folders, each of
recipes/classify.yaml, detect.yaml and segment.yaml is trained for a short while first (--train:
recipe overrides; latency does not depend on how well a model is trained, the metric drop does:
pass trained runs for drops that mean something). Latency: every file of a model gets its own
runner (ONNX Runtime session / TFLite interpreter, default threads), one batch-1 call each per round
in turn (interleaved, so load changes hit all alike), medians with min-max; ratios are to the same
backend's FP32 file.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import interleave, machine_line, median, recipe_of, summary, table  # noqa: E402

MODES = ("", "_fp16", "_int8")                 # model.onnx, model_fp16.onnx, model_int8.onnx
BACKENDS = {"onnx": "onnxruntime", "tflite": "TFLite"}
TINY = "train.epochs=1,data.params.train_size=1024,data.params.val_size=200"


def tiny_run(name: str, overrides: str) -> Path:
    """A short training of a shipped recipe (a temporary run folder)."""
    from visiontk.train.loop import train

    recipe = recipe_of(name, [o for o in overrides.split(",") if o])
    return Path(train(recipe, echo=lambda *_: None).run_dir)


def export_quantized(run: Path) -> tuple[Path, dict]:
    """(export folder, parity.json) of the run: ONNX and TFLite, fp32 + fp16 + int8."""
    from visiontk.export import export_run

    out = Path(tempfile.mkdtemp(prefix="vtk_bench_quant_")) / run.name
    result = export_run(run, "onnx,tflite", out=out, quantize="fp16,int8", max_metric_drop=1e9,
                        echo=lambda *_: None)
    return out, result.parity


def runners(out: Path, shape) -> dict:
    """{(backend, mode): fn()} batch-1 calls of every file on one random image."""
    import numpy as np

    from visiontk.export.formats.onnx import load_onnx
    from visiontk.export.formats.tflite import load_tflite

    x = np.random.default_rng(0).random((1, *shape), np.float32)
    load = {"onnx": load_onnx, "tflite": load_tflite}
    return {(fmt, mode): (lambda f: lambda: f(x))(load[fmt](out / f"model{mode}.{fmt}"))
            for fmt in BACKENDS for mode in MODES}


def bench(run: Path, args) -> dict:
    out, parity = export_quantized(run)
    meta = json.loads((out / "metadata.json").read_text())
    times = interleave(runners(out, meta["input"]["shape"]), args.iters, warmup=args.warmup)
    report = parity["quantized"]
    rows, res = [], {}
    for fmt, backend in BACKENDS.items():
        base = median(times[(fmt, "")])
        float_value = next(r["float"] for r in report["files"].values() if r["format"] == fmt)
        for mode in MODES:
            file = f"model{mode}.{fmt}"
            t, size = times[(fmt, mode)], (out / file).stat().st_size
            q = report["files"].get(file)                  # None for the fp32 file
            value, drop = (q["quantized"], q["drop"]) if q else (float_value, None)
            rows.append([f"{backend} {mode[1:] or 'fp32'}", file, f"{size / 1024:.1f}",
                         summary(t, 1e3, 3), f"{median(t) / base:.2f}", f"{value:.4f}",
                         "-" if drop is None else f"{drop:+.4f}"])
            res[file] = {"kb": round(size / 1024, 1), "b1_ms": round(median(t) * 1e3, 4),
                         "x_fp32": round(median(t) / base, 3), "metric": round(value, 6),
                         "drop": None if drop is None else round(drop, 6)}
    print(f"\n{run} ({meta['task']}, input {meta['input']['shape']}): {report['metric']} on "
          f"'{report['split']}', INT8 calibrated on {report['calibration']}; {args.iters} "
          f"interleaved batch-1 calls per file")
    print(table(["backend", "file", "KB", "batch-1 ms", "x fp32", report["metric"], "drop"], rows))
    return {"run": str(run), "task": meta["task"], "metric": report["metric"], "files": res}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("runs", nargs="*", help="trained run folders (default: train --models tiny)")
    ap.add_argument("--models", default="classify,detect,segment",
                    help="recipes to train briefly when no run is given")
    ap.add_argument("--train", default=TINY, help=f"recipe overrides of that training ({TINY})")
    ap.add_argument("--iters", type=int, default=200, help="batch-1 calls per file")
    ap.add_argument("--warmup", type=int, default=10)
    args = ap.parse_args()
    print(machine_line())
    runs = [Path(r) for r in args.runs] or [tiny_run(m, args.train) for m in args.models.split(",")]
    print(json.dumps({"quantize": [bench(run, args) for run in runs]}))


if __name__ == "__main__":
    main()
