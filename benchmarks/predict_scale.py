#!/usr/bin/env python3
"""`visiontk predict` over a folder of many small images: peak memory over 1,000 against 20,000
images, and images/s against a hand-written ONNX Runtime loop fed pre-decoded batches, side by side.

    .venv/bin/python benchmarks/predict_scale.py                         # recipes/classify.yaml
    .venv/bin/python benchmarks/predict_scale.py --large 5000 --rounds 2  # quicker
    .venv/bin/python benchmarks/predict_scale.py export/classify          # a trained export

Without PATH the recipe's model is built untrained (speed and memory do not depend on the weights)
and exported to ONNX in a temporary folder. The images are PNGs of 28-64 px (random sizes, a shape
on noise), written to a temporary folder and removed at the end.

Memory: `visiontk predict EXPORT FOLDER` runs in its own process per folder (1,000 and 20,000
images; JSON lines to /dev/null), rounds alternating; its peak RSS (ru_maxrss from wait4) is the
figure. The goal: the 20,000-image peak within 10 % of the 1,000-image one.

Speed, in one process, rounds alternating:
- `visiontk predict` as the command runs it (visiontk.cli.main in this process, stdout to
  /dev/null): model load, folder walk, worker threads that read, preprocess and run the model on
  batches, decode, JSON lines; with its defaults (bulk.thread_plan), and as an extra row with
  `--workers 1 --threads N` (one thread decoding beside the model on all N cores, the arrangement
  before thread_plan) and with each --command-args given;
- its loop alone (visiontk.infer.bulk.predict_sources with the Predictor already loaded);
- the hand-written loop: every image decoded, resized and normalised beforehand (untimed), then
  `session.run` on batches of the same size on the same model.onnx, one after the other: the model
  alone, with a default onnxruntime.InferenceSession and with visiontk's session options (no
  spinning threads), both on ONNX Runtime's default threads (one per core); the faster of the two
  is the reference. The goal: predict >= 0.8x that loop;
- an extra row, never the reference: the pre-decoded batches run as predict runs them, by as many
  threads as predict's workers with a one-thread-per-share session each (the model's own ceiling
  in that arrangement);
- for scale, a hand-written loop that decodes each batch before running it (no thread).

Decoding is not free where the model already uses every core: on 2 cores a 28-64 px PNG costs about
50 us to read and decode and 13 us to resize and convert, against ~217 us of model CPU per image
(ResNet-18 narrow, 64 px, batch 32). `--model-threads N` runs the model of every contender on N
intra-op threads (predict with `--threads N`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, export_untrained, machine_line, model_and_meta, table  # noqa: E402


def make_images(folder: Path, n: int, seed: int = 0) -> None:
    """`n` PNGs of 28-64 px (random width and height), noise with one filled shape."""
    import cv2
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        h, w = (int(v) for v in rng.integers(28, 65, 2))
        img = rng.integers(0, 120, (h, w, 3), dtype=np.uint8)
        colour = tuple(int(c) for c in rng.integers(120, 256, 3))
        cv2.circle(img, (w // 2, h // 2), min(h, w) // 3, colour, -1)
        cv2.imwrite(str(folder / f"{i:06d}.png"), img)


def subset(large: Path, folder: Path, n: int) -> Path:
    """The first `n` images of `large` in `folder` (hard links: no copies)."""
    folder.mkdir(parents=True, exist_ok=True)
    for p in sorted(large.iterdir())[:n]:
        os.link(p, folder / p.name)
    return folder


# Linux keeps a process's peak RSS across exec, so a child forked from this process (TensorFlow
# loaded: ~800 MB) would report at least that; a small Python process starts the command instead.
MEASURE = """
import os, subprocess, sys, time
t0 = time.perf_counter()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
err = p.stderr.read().decode()
_, status, usage = os.wait4(p.pid, 0)
print(usage.ru_maxrss, time.perf_counter() - t0, os.waitstatus_to_exitcode(status))
sys.stderr.write(err)
"""


def peak_rss(export: Path, folder: Path, batch_size: int) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of `visiontk predict EXPORT FOLDER` in its own process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"}
    command = [sys.executable, "-m", "visiontk", "predict", str(export), str(folder),
               "--batch-size", str(batch_size)]
    out = subprocess.run([sys.executable, "-c", MEASURE, *command],
                         capture_output=True, text=True, env=env, check=True)
    kilobytes, seconds, code = out.stdout.split()
    if int(code) != 0:
        raise SystemExit(f"visiontk predict failed ({code}): {out.stderr.strip()[-500:]}")
    return int(kilobytes) / 1024, float(seconds)           # Linux: ru_maxrss in kilobytes


def hand_written(export: Path, folder: Path, batch_size: int, meta: dict, session):
    """fn() -> seconds of `session.run` over every batch, decoded and preprocessed beforehand."""
    from visiontk.runtime.preprocess import preprocess, read_image

    files = sorted(folder.iterdir())
    batches = [preprocess([read_image(p) for p in files[i:i + batch_size]], meta)
               for i in range(0, len(files), batch_size)]
    name = session.get_inputs()[0].name

    def run() -> float:
        t0 = time.perf_counter()
        for batch in batches:
            session.run(None, {name: batch})
        return time.perf_counter() - t0

    run.batches = batches
    return run


def serial(export: Path, folder: Path, batch_size: int, meta: dict, session):
    """fn() -> seconds of a loop that reads, preprocesses and runs each batch in turn (no
    thread)."""
    from visiontk.runtime.preprocess import preprocess, read_image

    files = sorted(folder.iterdir())
    name = session.get_inputs()[0].name

    def run() -> float:
        t0 = time.perf_counter()
        for i in range(0, len(files), batch_size):
            batch = preprocess([read_image(p) for p in files[i:i + batch_size]], meta)
            session.run(None, {name: batch})
        return time.perf_counter() - t0

    return run


def sessions(export: Path, threads: int) -> dict:
    """A default onnxruntime.InferenceSession (what a hand-written loop opens) and one with the
    options visiontk's ONNX backend sets (intra-op threads that do not spin between calls); both
    with `threads` intra-op threads (0: ONNX Runtime's default, one per core)."""
    import onnxruntime as ort

    from visiontk.export.formats.onnx import onnx_session

    path = export / "model.onnx"
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    return {"default session": ort.InferenceSession(str(path), opts,
                                                    providers=["CPUExecutionProvider"]),
            "visiontk's session options": onnx_session(path, threads or None)}


def predict_loop(export: Path, folder: Path, batch_size: int, threads: int = 0):
    """fn() -> seconds of predict's own loop (the Predictor loaded once, outside the timing), with
    the command's threads."""
    from visiontk.infer.backends import model_threads
    from visiontk.infer.bulk import predict_sources, thread_plan
    from visiontk.infer.inputs import open_sources
    from visiontk.infer.predictor import Predictor
    from visiontk.infer.writers import JsonLines

    threads, workers = thread_plan("onnx", threads or None)
    with model_threads(threads):
        predictor = Predictor(export, "onnx")

    def run() -> float:
        with open(os.devnull, "w") as sink:
            t0 = time.perf_counter()
            predict_sources(predictor, open_sources([folder]), [JsonLines(sink, predictor.meta)],
                            batch_size=batch_size, workers=workers)
            return time.perf_counter() - t0

    return run


def side_by_side(export: Path, folder: Path, batch_size: int, meta: dict, threads: int):
    """fn() -> seconds of the pre-decoded batches run by predict's workers' count of threads side
    by side (each batch whole in one thread), on one session with predict's threads per call."""
    from concurrent.futures import ThreadPoolExecutor

    from visiontk.infer.bulk import thread_plan

    threads, workers = thread_plan("onnx", threads or None)
    session = sessions(export, threads)["visiontk's session options"]
    run_all = hand_written(export, folder, batch_size, meta, session)
    pool = ThreadPoolExecutor(workers)
    name = session.get_inputs()[0].name
    batches = run_all.batches

    def run() -> float:
        t0 = time.perf_counter()
        list(pool.map(lambda batch: session.run(None, {name: batch}), batches))
        return time.perf_counter() - t0

    return run


def predict_command(export: Path, folder: Path, batch_size: int, *extra: str):
    """fn() -> seconds of `visiontk predict EXPORT FOLDER [EXTRA]` run by the CLI in this
    process."""
    from visiontk.cli import main

    def run() -> float:
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            t0 = time.perf_counter()
            with contextlib.suppress(SystemExit):
                main(["predict", str(export), str(folder), "--batch-size", str(batch_size),
                      *extra])
            return time.perf_counter() - t0

    return run


def contenders(export: Path, speed: Path, args, meta: dict) -> tuple[dict, list]:
    """{label: fn() -> seconds} of every loop timed, and the labels of the reference loops."""
    from visiontk.infer.bulk import thread_plan

    threads = [] if not args.model_threads else ["--threads", str(args.model_threads)]
    fns = {"visiontk predict FOLDER (the command, in-process)": predict_command(
               export, speed, args.batch_size, *threads),
           "predict's loop (model already loaded)": predict_loop(export, speed, args.batch_size,
                                                                 args.model_threads)}
    extra = [["--workers", "1", "--threads", str(args.model_threads or os.cpu_count())]]
    for more in extra + [a.split() for a in args.command_args]:
        fns[f"visiontk predict FOLDER {' '.join(more)}"] = predict_command(
            export, speed, args.batch_size, *threads, *more)
    refs = []
    for label, session in sessions(export, args.model_threads).items():
        refs.append(f"hand-written, pre-decoded batches, {label}")
        fns[refs[-1]] = hand_written(export, speed, args.batch_size, meta, session)
    workers = thread_plan("onnx", args.model_threads or None)[1]
    fns[f"hand-written, pre-decoded, {workers} batches at once (not the reference)"] = \
        side_by_side(export, speed, args.batch_size, meta, args.model_threads)
    fns["hand-written, decoding as it goes (no thread), visiontk's session options"] = serial(
        export, speed, args.batch_size, meta,
        sessions(export, args.model_threads)["visiontk's session options"])
    return fns, refs


def report_speed(times: dict, refs: list, args, mem: dict, growth) -> None:
    """The speed table: per contender its median and best images/s over the rounds, each against
    the faster reference's (the best: each loop on its quietest round), and the median of its ratios
    to that reference round by round (rounds alternate, so a round's contenders met the same load);
    then the JSON line. On a shared machine the reference, whose threads wait for each other inside
    every layer, swings most."""
    from visiontk.infer.bulk import thread_plan

    n = args.speed_images
    rate = {k: n / statistics.median(v) for k, v in times.items()}
    best = {k: n / min(v) for k, v in times.items()}
    ref, ref_best = max(rate[k] for k in refs), max(best[k] for k in refs)
    per_round = {k: [(n / t) / max(n / times[r][i] for r in refs) for i, t in enumerate(v)]
                 for k, v in times.items()}
    threads, workers = thread_plan("onnx", args.model_threads or None)
    print(f"\nimages/s over {n:,} images ({args.rounds} rounds, alternating; {os.cpu_count()} "
          f"cores; hand-written loops' intra-op threads: "
          f"{args.model_threads or 'ONNX Runtime default'}; predict: {workers} workers x {threads} "
          f"model threads); ratios to the faster pre-decoded hand-written loop")
    print(table(["", "median", "best", "rounds", "ratio: medians", "bests", "same round (range)"],
                [[k, f"{r:.0f}", f"{best[k]:.0f}", " ".join(f"{n / s:.0f}" for s in times[k]),
                  f"{r / ref:.2f}", f"{best[k] / ref_best:.2f}",
                  f"{statistics.median(per_round[k]):.2f} ({min(per_round[k]):.2f}-"
                  f"{max(per_round[k]):.2f})"] for k, r in rate.items()]))
    command = next(iter(rate))
    print(json.dumps({"peak_rss_mb": {str(args.small): mem["small"] and round(mem["small"], 1),
                                      str(args.large): mem["large"] and round(mem["large"], 1)},
                      "memory_growth": growth and round(growth, 4),
                      "images_per_s": {k: round(r, 1) for k, r in rate.items()},
                      "command_vs_hand_written": {
                          "medians": round(rate[command] / ref, 3),
                          "bests": round(best[command] / ref_best, 3),
                          "same_round": round(statistics.median(per_round[command]), 3)},
                      "model_threads": args.model_threads,
                      "load_after": round(os.getloadavg()[0], 2)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path", nargs="?", help="an export folder with model.onnx (default: build "
                                            "--recipe's model untrained and export it)")
    ap.add_argument("--recipe", default="recipes/classify.yaml")
    ap.add_argument("--small", type=int, default=1000, help="images of the small folder")
    ap.add_argument("--large", type=int, default=20000, help="images of the large folder")
    ap.add_argument("--speed-images", type=int, default=2000, help="images per speed round")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--speed-only", action="store_true", help="skip the memory part")
    ap.add_argument("--model-threads", type=int, default=0,
                    help="ONNX Runtime intra-op threads of every contender in the speed part, "
                         "predict's --threads (0: its default, one per core)")
    ap.add_argument("--command-args", action="append", default=[],
                    help="an extra row: the command with these options (e.g. '--decoders 2')")
    args = ap.parse_args()
    os.environ["CI"] = "true"                      # no progress bar in the timed command

    work = Path(tempfile.mkdtemp(prefix="vtk_predict_scale_"))
    try:
        if args.path:
            export = Path(args.path)
        else:
            model, meta, _ = model_and_meta(None, args.recipe)
            export = export_untrained(model, meta, work, formats=("onnx",))
        meta = json.loads((export / "metadata.json").read_text())
        t0 = time.perf_counter()
        make_images(work / "large", args.speed_images if args.speed_only else args.large)
        small = subset(work / "large", work / "small", min(args.small, args.speed_images)) \
            if args.speed_only else subset(work / "large", work / "small", args.small)
        speed = subset(work / "large", work / "speed", args.speed_images)
        print(machine_line())
        print(f"# benchmarks/predict_scale.py {' '.join(sys.argv[1:])}".rstrip())
        print(f"{len(os.listdir(work / 'large')):,} PNGs of 28-64 px written in "
              f"{time.perf_counter() - t0:.1f} s; model {args.path or args.recipe} (ONNX), input "
              f"{meta['input']['shape']}, batch {args.batch_size}", flush=True)

        mem, growth = {"small": None, "large": None}, None
        if not args.speed_only:
            memory: dict = {"small": [], "large": []}
            for _ in range(args.rounds):
                memory["small"].append(peak_rss(export, small, args.batch_size))
                memory["large"].append(peak_rss(export, work / "large", args.batch_size))
            mem = {k: statistics.median(m for m, _ in v) for k, v in memory.items()}
            rows = [[f"{n:,} images", f"{mem[k]:.1f}", f"{max(m for m, _ in memory[k]):.1f}",
                     f"{statistics.median(n / s for _, s in memory[k]):.0f}"]
                    for k, n in (("small", args.small), ("large", args.large))]
            print("\npeak memory of `visiontk predict EXPORT FOLDER` (own process each)")
            print(table(["folder", "peak RSS MB (median)", "max", "images/s incl. start-up"], rows))
            growth = mem["large"] / mem["small"] - 1
            print(f"{args.large:,} vs {args.small:,} images: {100 * growth:+.1f} % (goal: within "
                  f"10 %)")
        fns, refs = contenders(export, speed, args, meta)
        for fn in fns.values():                     # warm-up
            fn()
        times: dict = {k: [] for k in fns}
        for _ in range(args.rounds):
            for name, fn in fns.items():
                times[name].append(fn())
        report_speed(times, refs, args, mem, growth)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
