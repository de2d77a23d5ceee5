#!/usr/bin/env python3
"""The two detection heads side by side in one run: ONNX Runtime latency at batch 1 and 32 (the model
alone, and with the TensorFlow-free decode + NMS) and training images/s through the real training
step.

    .venv/bin/python benchmarks/detect_heads_speed.py                   # the fashion recipes' pair
    .venv/bin/python benchmarks/detect_heads_speed.py --json --rounds 5
    # the synthetic scenes: recipes/detect.yaml against its head replaced by the multi-scale one
    .venv/bin/python benchmarks/detect_heads_speed.py --grid-recipe recipes/detect.yaml \\
        --multiscale-recipe recipes/detect.yaml --multiscale-set "model.head={type: multiscale}" \
        --multiscale-set model.feature=null

Both heads' models are built untrained from their recipes (--grid-recipe, recipes/detect_fashion.yaml;
--multiscale-recipe, recipes/detect_fashion_multiscale.yaml; --set for both, --grid-set and
--multiscale-set for one) under the recipes' train.mixed_precision (`auto`: mixed_bfloat16 on CPUs
with AVX512-BF16 or AMX, else float32), and exported to ONNX (visiontk.export, parity checked).

Latency: ONNX Runtime (one intra-op thread per core) on uniform random images at the model's input
size, batch 1 and batch 32; every call of both heads interleaved, medians (min-max) in ms. "model" is
the session call; "decode + NMS" is visiontk.runtime.detection.decode (numpy: boxes, per-class NMS at
the recipe's iou_threshold and max_detections, pixels) on that call's output; "model + decode" is
both. Untrained, the heads score every candidate box low and alike, so the score threshold of the
recipe (0.3) would leave NMS nothing to do: decode runs at --score-threshold (0.001, the recipes'
eval_score_threshold: about every candidate enters NMS, the heaviest case). The candidates that pass
it and the boxes kept are printed per image.

Training: each recipe's model compiled by the trainer (visiontk.train.session.compile_model: its
loss, optimizer, schedule, steps_per_execution) and fed one real batch of the recipe's input pipeline
(its augmentation and target encoding, from --scenes training scenes), repeated: the training step
alone, not the input pipeline (benchmarks/data_pipeline.py measures that). After a traced warm-up
epoch, --rounds rounds of one --train-steps epoch per head, the order swapped every round; images/s
per head and the multiscale/grid ratio within each round, median (min-max).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (StepBench, add_head_args, check_head, export_untrained,  # noqa: E402
                     head_recipes, interleave, machine, machine_line, median, model_and_meta,
                     recipe_of, shown, summary, table)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    add_head_args(ap)
    ap.add_argument("--iters", type=int, default=100, help="interleaved batch-1 calls per head")
    ap.add_argument("--iters32", type=int, default=10, help="interleaved batch-32 calls per head")
    ap.add_argument("--warmup", type=int, default=3, help="untimed calls of each kind first")
    ap.add_argument("--score-threshold", type=float, default=0.001,
                    help="decode's score threshold on the untrained models")
    ap.add_argument("--rounds", type=int, default=3, help="training rounds (one epoch per head)")
    ap.add_argument("--train-steps", type=int, default=16, help="training steps per timed epoch")
    ap.add_argument("--scenes", type=int, default=64,
                    help="training scenes loaded (data.params.train_size) for the training batch")
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = ap.parse_args()
    args.recipes, args.own = head_recipes(args)
    return ap, args


def overrides(args, head: str) -> list:
    return [*args.set, *args.own[head], f"data.params.train_size={args.scenes}"]


def checked(ap, args) -> dict:
    """{head: its recipe with the overrides}, each checked before anything is built."""
    from visiontk.errors import VisionTKError

    recipes = {}
    for head, path in args.recipes.items():
        try:
            recipes[head] = recipe_of(path, overrides(args, head))
            check_head(recipes[head], head, path)
        except (VisionTKError, OSError) as exc:             # recipe_of reads the file itself
            ap.error(f"--{head}-recipe: {exc}")
        if args.scenes < recipes[head].train.batch_size:
            ap.error(f"--scenes {args.scenes}: at least the batch size, "
                     f"{recipes[head].train.batch_size} ({path})")
    return recipes


def build(args, head: str, recipe) -> dict:
    """The head's untrained inference model exported to ONNX, and its trainer-compiled StepBench."""
    from visiontk.export.formats.onnx import load_onnx

    path = args.recipes[head]
    model, meta, _ = model_and_meta(None, path, overrides(args, head))
    out = export_untrained(model, meta, Path(tempfile.mkdtemp(prefix=f"vtk_bench_{head}_")),
                           formats=("onnx",))
    exported = json.loads((out / "metadata.json").read_text())
    print(f"  {head}: exported {out / 'model.onnx'}", file=sys.stderr, flush=True)
    return {"run": load_onnx(out / "model.onnx"), "meta": exported, "params": model.count_params(),
            "onnx_kb": (out / "model.onnx").stat().st_size / 1024, "step": StepBench(recipe),
            "recipe": " + ".join([shown(path), *args.own[head]])}


def latency(args, heads: dict, batch: int, iters: int) -> tuple[dict, dict]:
    """({(head, what): [seconds per call]}, {head: (boxes entering NMS, boxes kept, candidate
    boxes) per image}) at `batch`, on random images of each model's input size."""
    import numpy as np

    from visiontk.runtime.detection import anchor_free_boxes, decode, grid_boxes

    fns, work = {}, {}
    for head, h in heads.items():
        run, meta, thr = h["run"], h["meta"], args.score_threshold
        x = np.random.default_rng(0).random((batch, *meta["input"]["shape"]), np.float32)
        out = run(x)
        fns[head, "model"] = lambda run=run, x=x: run(x)
        fns[head, "decode"] = lambda out=out, meta=meta: decode(out, meta, score_threshold=thr)
        fns[head, "model + decode"] = \
            lambda run=run, x=x, meta=meta: decode(run(x), meta, score_threshold=thr)
        raw, d = next(iter(out.values())), meta["decode"]
        scores = anchor_free_boxes(raw)[2] if d.get("layout") == "anchor_free" else \
            (lambda b, c, p: c * p.max(-1))(*grid_boxes(raw, d["grid"], d["boxes_per_cell"]))
        kept = decode(out, meta, score_threshold=thr)
        work[head] = (float((scores >= thr).sum(-1).mean()), float(np.mean([p.count for p in kept])),
                      scores.shape[-1])
    return interleave(fns, iters, args.warmup), work


def training(args, heads: dict) -> dict:
    """{head: [images/s per round]} of one --train-steps epoch per head per round, order swapped."""
    for h in heads.values():
        h["step"].epoch(args.train_steps)                 # warm-up (StepBench has traced the step)
    speeds = {head: [] for head in heads}
    order = list(heads)
    for i in range(args.rounds):
        for head in (order if i % 2 == 0 else order[::-1]):
            speeds[head].append(heads[head]["step"].epoch(args.train_steps))
            print(f"  round {i + 1} {head}: {speeds[head][-1]:.1f} img/s", file=sys.stderr, flush=True)
    return speeds


def main() -> None:
    ap, args = parse_args()
    heads = {head: build(args, head, recipe) for head, recipe in checked(ap, args).items()}
    times, work = {}, {}
    for batch, iters in ((1, args.iters), (32, args.iters32)):
        t, work[batch] = latency(args, heads, batch, iters)
        times.update({(batch, *k): v for k, v in t.items()})
    speeds = training(args, heads)

    rows, out = [], {"machine": machine(), "score_threshold": args.score_threshold, "heads": {}}
    for batch in (1, 32):
        for what in ("model", "decode", "model + decode"):
            g, m = times[batch, "grid", what], times[batch, "multiscale", what]
            rows.append([f"onnxruntime batch {batch}, {what} ms", summary(g, 1e3, 2), summary(m, 1e3, 2),
                         f"{median(m) / median(g):.2f}"])
    ratios = [m / g for g, m in zip(speeds["grid"], speeds["multiscale"])]
    batch_sizes = {head: h["step"].batch for head, h in heads.items()}
    rows.append([f"training images/s (batch {batch_sizes['grid']} / {batch_sizes['multiscale']})",
                 summary(speeds["grid"]), summary(speeds["multiscale"]), summary(ratios, digits=2)])
    for head, h in heads.items():
        d = h["meta"]["decode"]
        out["heads"][head] = {
            "recipe": h["recipe"], "params": h["params"], "onnx_kb": round(h["onnx_kb"], 1),
            "candidates": work[1][head][2], "iou_threshold": d.get("iou_threshold"),
            "max_detections": d.get("max_detections"),
            "nms_input_per_image": {b: round(work[b][head][0], 1) for b in work},
            "kept_per_image": {b: round(work[b][head][1], 1) for b in work},
            "latency_ms": {f"batch{b} {what}": [round(v * 1e3, 4) for v in times[b, head, what]]
                           for b in (1, 32) for what in ("model", "decode", "model + decode")},
            "train_images_per_s": [round(v, 1) for v in speeds[head]]}
    out["train_ratio_multiscale_over_grid"] = [round(r, 3) for r in ratios]

    print(machine_line())
    policy = heads["grid"]["step"].p.precision
    print(f"detect_heads_speed: untrained models; {args.iters} batch-1 and {args.iters32} batch-32 "
          f"interleaved ONNX Runtime calls per head on random images, median (min-max); decode at "
          f"score threshold {args.score_threshold}; training: {args.rounds} rounds x "
          f"{args.train_steps} steps per head on one real encoded batch, repeated; {policy.why}")
    for head, o in out["heads"].items():
        print(f"{head}: {o['recipe']}")
    print(table(["head", "parameters", "ONNX KB", "candidates", "into NMS / kept per image",
                 "NMS IoU, max"],
                [[head, f"{o['params']:,}", f"{o['onnx_kb']:.0f}", o["candidates"],
                  " ; ".join(f"b{b}: {o['nms_input_per_image'][b]:.0f} / {o['kept_per_image'][b]:.1f}"
                             for b in work),
                  f"{o['iou_threshold']}, {o['max_detections']}"] for head, o in out["heads"].items()]))
    print(table(["measure", "grid", "multiscale", "multiscale/grid"], rows))
    if args.json:
        print(json.dumps({"detect_heads_speed": out}))


if __name__ == "__main__":
    main()
