#!/usr/bin/env python3
"""The two detection heads, grid and multiscale, at the same wall-clock budget: test mAP@[.5:.95],
mAP@0.5 and recall, mean ± std over seeds, as a markdown table.

    .venv/bin/python benchmarks/detect_heads_budget.py --budget-seconds 900 --out runs/heads_fashion
    .venv/bin/python benchmarks/detect_heads_budget.py --grid-recipe recipes/detect.yaml \\
        --multiscale-recipe recipes/detect_multiscale.yaml --set data.params.test_size=500 \\
        --budget-seconds 300 --out runs/heads_synthetic
    # the synthetic scenes without a multi-scale recipe: the grid recipe with its head replaced
    .venv/bin/python benchmarks/detect_heads_budget.py --grid-recipe recipes/detect.yaml \\
        --multiscale-recipe recipes/detect.yaml --multiscale-set "model.head={type: multiscale}" \\
        --multiscale-set model.feature=null --set data.params.test_size=500 --budget-seconds 300 \\
        --out runs/heads_synthetic

Two arms per seed, run one after the other (the first alternates) as `visiontk train` subprocesses:
  grid:        --grid-recipe (recipes/detect_fashion.yaml), then --set, then --grid-set;
  multiscale:  --multiscale-recipe (recipes/detect_fashion_multiscale.yaml), --set, --multiscale-set.
Both arms of a seed see the same scenes (the seed draws them) and the same budget; --train-size limits
the training scenes (default all: each recipe's data.params.train_size). The budget is met as in
benchmarks/finetune_fashion.py, whose functions this script calls: probe runs on a slice give each
arm's start, per-epoch and per-step costs; each run gets the epochs whose predicted wall time is
nearest the budget, so that its cosine schedule ends with the budget; the wall time is from the start
of `visiontk train` to the end of its last epoch (the final val and test scoring is not counted); a
run past --overrun x its budget is stopped by SIGINT, finished from its best checkpoint and marked
`cut`. Runs go to OUT/<head>-<size>-<seed>/ (log beside it), results to OUT/results.json (a rerun
with the same settings keeps its calibration and finished runs: add seeds, or resume after a stop),
the table to OUT/results.md.

Figures are each run's test split (metrics.json): map (COCO AP@[.5:.95]), map50, and recall at the
recipe's decode score_threshold and IoU 0.5. The recipes' test split must exist (synthetic scenes:
--set data.params.test_size=N). Each run keeps its recipe's checkpoint_monitor (detect_fashion:
val_map50, the multiscale recipe: val_map); `--set train.checkpoint_monitor=val_map` sets both alike.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (DETECT_HEADS, add_head_args, check_head, head_recipes,  # noqa: E402
                     machine_line, shown)
from finetune_fashion import (arm_overrides, calibrate, load_results, mean_std,  # noqa: E402
                              run_sizes)

HEADS = tuple(DETECT_HEADS)                        # the arms: grid, multiscale
CURVE = "val_map"                                  # history.csv column kept per epoch in results.json
TESTS = ("map", "map50", "recall")
TITLES = {"map": "test mAP@[.5:.95]", "map50": "test mAP@0.5", "recall": "test recall"}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    add_head_args(ap)
    ap.add_argument("--train-size", type=int, help="training scenes per run (default: all, the "
                    "recipes' data.params.train_size)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--budget-seconds", type=float, default=900.0, help="wall seconds per run")
    ap.add_argument("--probe-images", type=int, default=512,
                    help="training scenes of the larger calibration probe")
    ap.add_argument("--overrun", type=float, default=1.5,
                    help="stop a run by SIGINT past this x its budget and finish it (0: never)")
    ap.add_argument("--out", default="runs/detect_heads_budget", help="folder of the runs and results")
    args = ap.parse_args()
    # the attributes finetune_fashion's functions read (see its arm_overrides, probe, measured)
    args.arms, args.curve, args.tests = HEADS, CURVE, TESTS
    args.arm_recipes, args.arm_sets = head_recipes(args)
    args.out = Path(args.out).resolve()
    return ap, args


def shapes_of(ap, args) -> dict:
    """{head: (batch size, train_size)} of each arm's recipe; refuses a recipe whose head is not its
    arm's or whose source has no test split."""
    from visiontk.data.make import make_source
    from visiontk.errors import VisionTKError
    from visiontk.recipe import load_recipe

    shapes = {}
    for head in HEADS:
        try:
            recipe = load_recipe(args.arm_recipes[head], [*args.set, *args.arm_sets[head]])
            check_head(recipe, head, args.arm_recipes[head])
            splits = make_source(recipe).splits()
        except VisionTKError as exc:
            ap.error(f"--{head}-recipe: {exc}")
        if "test" not in splits:
            ap.error(f"--{head}-recipe {args.arm_recipes[head]}: its source has no test split; "
                     f"add --set data.params.test_size=N")
        shapes[head] = (recipe.train.batch_size, recipe.data.params.train_size)
    if args.probe_images < 2 * max(b for b, _ in shapes.values()):
        ap.error(f"--probe-images must be at least 2 batches ({2 * max(b for b, _ in shapes.values())})")
    return shapes


def markdown(args, runs: list, size: str, n: int | None, budget: float, command: str) -> str:
    """The report: command, budget, one row per head, the paired difference, each head's seed-0
    `visiontk train` command with its calibrated epochs."""
    by_head = {h: sorted((r for r in runs if (r["arm"], r["size"], r["budget_s"]) == (h, size, budget)
                          and "error" not in r), key=lambda r: r["seed"]) for h in HEADS}
    scenes = "all training scenes" if n is None else f"{n} training scenes"
    lines = [f"### Detection heads at the same wall-clock budget: {budget:.0f} s per run, {scenes}",
             "", f"`{command}`", "", f"`{machine_line()}`", "",
             "| head | recipe | seeds | " + " | ".join(TITLES[m] for m in TESTS)
             + f" | epochs chosen | wall s (budget {budget:.0f}) | cut |",
             "|---" * (6 + len(TESTS)) + "|"]
    for head, rs in by_head.items():
        if rs:
            recipe = " + ".join([shown(args.arm_recipes[head]), *args.arm_sets[head]])
            lines.append(f"| {head} | {recipe} | "
                         + ", ".join(str(r["seed"]) for r in rs) + " | "
                         + " | ".join(mean_std([r["test"][m] for r in rs if r["test"][m] is not None])
                                      for m in TESTS)
                         + " | " + ", ".join(str(r["epochs"]) for r in rs)
                         + " | " + ", ".join(f"{r['wall_s']:.0f}" for r in rs if r["wall_s"])
                         + f" | {sum(r['cut'] for r in rs)} |")
    grid = {r["seed"]: r["test"] for r in by_head["grid"]}
    pairs = [(grid[r["seed"]], r["test"]) for r in by_head["multiscale"] if r["seed"] in grid]
    if pairs:
        diffs = [mean_std([b[m] - a[m] for a, b in pairs if None not in (a[m], b[m])]) for m in TESTS]
        lines.append(f"| multiscale - grid (paired by seed) | | {len(pairs)} | " + " | ".join(diffs)
                     + " | | | |")
    lines += ["", "mean ± std over seeds; epochs and walls per seed in seed order; wall = start of "
              "`visiontk train` to the end of its last epoch (final val/test scoring not counted)."]
    for head, rs in by_head.items():
        if rs:
            r = rs[0]
            ov = arm_overrides(args, head, n, r["seed"], Path(r["run"]), r["epochs"], 0)
            lines.append(f"- {head}, seed {r['seed']}: `visiontk train --force "
                         f"{shown(args.arm_recipes[head])} {shlex.join(ov)}`")
    return "\n".join(lines)


def main() -> None:
    from visiontk.io import write_text

    ap, args = parse_args()
    shapes = shapes_of(ap, args)
    size = "all" if args.train_size is None else str(args.train_size)
    sizes = [(size, args.train_size, args.budget_seconds)]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    settings = {"heads": {h: [args.arm_recipes[h], args.arm_sets[h]] for h in HEADS}, "set": args.set,
                "probe_images": args.probe_images}
    path, results = load_results(args.out, settings)
    t_start = time.perf_counter()
    calibrate(args, results, path, {h: shapes[h][0] for h in HEADS})
    run_sizes(args, results, path, sizes, {"num": seeds, "all": seeds}, shapes)
    command = ".venv/bin/python benchmarks/detect_heads_budget.py " + shlex.join(sys.argv[1:])
    text = markdown(args, results["runs"], size, args.train_size, args.budget_seconds, command)
    write_text(args.out / "results.md", text + "\n")
    print(f"detect_heads_budget: {time.perf_counter() - t_start:.0f} s in all\n\n{text}\n\n"
          f"results: {path}\ntable: {args.out / 'results.md'}")
    failed = [r["run"] for r in results["runs"] if "error" in r]
    if failed:                        # their error (the log's tail) is in results.json
        sys.exit(f"runs without test metrics (see OUT/<run>.log): {', '.join(failed)}")


if __name__ == "__main__":
    main()
