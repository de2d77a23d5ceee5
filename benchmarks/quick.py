#!/usr/bin/env python3
"""The quick subset of every benchmark (`make bench`): each script with --quick, one after the
other in its own process, then the ratios in one summary. Under 10 minutes on 2 CPU cores.

    .venv/bin/python benchmarks/quick.py
    .venv/bin/python benchmarks/quick.py --only train_overhead,inference

Scripts: train_overhead (LeNet-5, visiontk.train vs plain model.fit), peak_share (ResNet18 narrow
and VGG-D at 64 px vs matmul), inference (classifier, six backends), data_pipeline (three sources
vs the training step). Full runs and the figures: benchmarks/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("train_overhead", "peak_share", "inference", "data_pipeline")


def ratios(name: str, result: dict) -> list[str]:
    """The summary lines of one script's JSON result."""
    if name == "train_overhead":
        return [f"train_overhead {m}: visiontk/plain images/s = {r['ratio']:.3f} (pairs "
                f"{', '.join(map(str, r['ratios']))}; goal >= 1.0)" for m, r in result.items()]
    if name == "peak_share":
        return [f"peak_share {m}: {v} % of matmul GFLOP/s (goal >= 35 % for the larger nets)"
                for m, v in result.items()]
    if name == "inference":
        return [f"inference {m}: batch-1 keras model(x) / onnxruntime = "
                f"{r['keras model(x)']['b1_x_onnx']:.1f}, tf.function / onnxruntime = "
                f"{r['keras tf.function']['b1_x_onnx']:.1f}" for m, r in result.items()]
    return [f"data_pipeline {s}: pipeline / step = {r['build_dataset warm']:.1f} (warm), "
            f"{r['build_dataset cold']:.1f} (cold); step fed by pipeline / repeated batch = "
            f"{r['step fed by pipeline']:.2f} (goal: > 1, ~1)" for s, r in result.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(SCRIPTS), help="comma list of " + ", ".join(SCRIPTS))
    args = ap.parse_args()
    t_all = time.perf_counter()
    summary, failed = [], []
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for name in args.only.split(","):
        t0 = time.perf_counter()
        print(f"== {name} --quick", flush=True)
        proc = subprocess.run([sys.executable, str(HERE / f"{name}.py"), "--quick"], env=env,
                              capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if not ln.startswith("{")]
        print("\n".join(lines))
        result = next((json.loads(ln) for ln in reversed(proc.stdout.splitlines())
                       if ln.startswith("{")), None)
        if proc.returncode != 0 or result is None:
            failed.append(name)
            print(proc.stderr[-3000:], file=sys.stderr)
            continue
        summary += ratios(name, result[name])
        print(f"({time.perf_counter() - t0:.0f} s)\n", flush=True)
    print(f"== ratios (quick subset, {time.perf_counter() - t_all:.0f} s, load "
          f"{os.getloadavg()[0]:.2f})")
    print("\n".join(summary))
    if failed:
        print(f"failed: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
