#!/usr/bin/env python3
"""What fine-tuning a pretrained backbone buys on fashion-scenes, at the same wall-clock budget.

    .venv/bin/python benchmarks/finetune_fashion.py --task detect --pretrained runs/fashion_backbone \\
        --sizes 300,1000,all --seeds 0,1,2 --seeds-all 0 --budget-seconds 600 --out runs/ft_detect
    .venv/bin/python benchmarks/finetune_fashion.py --task segment --pretrained RUN --sizes 1000 \\
        --seeds 0,1,2 --budget-seconds 600 --out runs/ft_segment
    # a keras.applications backbone whose weights file was pretrained here (the ImageNet user's path):
    .venv/bin/python benchmarks/finetune_fashion.py --task detect --sizes 300 --no-init-from \\
        --set "model.backbone={name: mobilenet_v2, weights: none}" \\
        --pretrained-set model.backbone.weights=runs/mnv2_backbone.weights.h5 --out runs/ft_mnv2

Two arms per training size and seed, run one after the other as `visiontk train` subprocesses on the
task's recipe (recipes/detect_fashion.yaml or recipes/segment_fashion.yaml, or --recipe):
  scratch:   model.init_from=null, train.finetune=null;
  finetune:  model.init_from=PRETRAINED and train.finetune {freeze: backbone, unfreeze_after_epochs:
             K, backbone_lr_multiplier: --backbone-lr}, K = --frozen-share of the run's epochs.
Both arms of a seed see the same scenes (the recipe's seed draws them) and the same budget. Runs go
to OUT/<arm>-<size>-<seed>/ (log beside it), results to OUT/results.json (rewritten after each run;
a rerun with the same settings keeps the finished runs it lists), curves to OUT/curves_<task>.png.

How the budget works. visiontk has no time limit (the recipe schema has train.epochs, steps and
early stopping; nothing in seconds), so the budget is met here. Stopping a run by SIGINT would be
clean (the last finished epoch's backup and the best checkpoint are kept, and rerunning with
train.epochs=<epochs done> finishes it: model.keras from the best checkpoint, val and test scored),
but the cosine schedule spans train.epochs: a run stopped by time stops with its learning rate still
high, un-annealed, and the arm with cheaper epochs would be judged mid-schedule too. So the epochs are
calibrated instead, and each arm's schedule ends when its budget does:
  1. probes: each arm trains on a slice of the training scenes (1 step per epoch, then --probe-images)
     with the real validation set, 3 epochs (finetune: 4, frozen for 2); the times at which its
     history.csv rows appear give its start cost (process, data, model, tracing), per-epoch cost
     (validation, mAP, checkpoints), per-step cost of each phase (frozen epochs are cheaper: no
     backbone gradients) and the retrace at the unfreeze;
  2. per size and arm, the epochs whose predicted wall time is nearest the budget (finetune: with K
     frozen epochs); later seeds of a size scale the prediction by what the earlier seeds measured.
The budget counts from the start of `visiontk train` to the end of its last epoch (imports, reading
the cached scenes, building, tracing, training, every epoch's validation), measured by polling
history.csv; not the final scoring of val and test after it (the same work in both arms). Scenes are
generated into the cache before any clock starts. The actual wall time of every run is reported. A
run that passes --overrun x its budget (a busy machine) is stopped by SIGINT and finished from its
best checkpoint; results.json marks it `cut`.

The calibration, the runs and the keeping of results.json serve any pair of arms: an arm is a name in
args.arms with its recipe (args.arm_recipes) and its own overrides (args.arm_sets); `finetune` is the
one arm with a frozen phase. benchmarks/detect_heads_budget.py compares two detection heads with them.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, table  # noqa: E402
from visiontk.io import write_json  # noqa: E402

TASKS = {   # recipe, the validation curve (history.csv), the test metrics (metrics.json)
    "detect": ("recipes/detect_fashion.yaml", "val_map50", ("map50", "map")),
    "segment": ("recipes/segment_fashion.yaml", "val_mean_iou", ("mean_iou",)),
}
ARMS = ("scratch", "finetune")
POLL = 0.25                       # seconds between looks at a run's history.csv
PROBE_EPOCHS = {"scratch": 3, "finetune": 4}
PROBE_FROZEN = 2


# ---- one timed `visiontk train` ------------------------------------------------------------------

def history(run_dir: Path) -> list[dict]:
    """The rows of a run's history.csv (floats; an empty cell is left out)."""
    path = run_dir / "history.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def train(recipe: str, overrides: list, run_dir: Path, *, epochs: int, force: bool = True,
          stop_at: float | None = None, stop_when_done: bool = False) -> dict:
    """Run `visiontk train` and time it: {rows_at: seconds from start at which each history row
    appeared, total_s, returncode, cut}. `stop_at`: SIGINT when the run is still short of `epochs`
    after that many seconds; `stop_when_done`: SIGINT once the last epoch is in (a probe: the
    final scoring is not needed)."""
    cmd = [sys.executable, "-m", "visiontk", "train", *(["--force"] if force else []), recipe,
           *overrides]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    csv_path = run_dir / "history.csv"
    # a replaced run's old history.csv counts for nothing: rows count from its first rewrite
    seen = csv_path.stat().st_mtime_ns if csv_path.is_file() else None
    rows_at, cut, signalled = [], False, False
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(run_dir.with_suffix(".log"), "a") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            while proc.poll() is None:
                time.sleep(POLL)
                now = time.perf_counter() - t0
                stamp = csv_path.stat().st_mtime_ns if csv_path.is_file() else None
                if stamp != seen:                      # rows appear at epoch ends (atomic rewrite)
                    seen = stamp
                    rows_at += [now] * (len(history(run_dir)) - len(rows_at))
                done = len(rows_at) >= epochs
                if not signalled and ((stop_when_done and done) or
                                      (stop_at and not done and now > stop_at)):
                    proc.send_signal(signal.SIGINT)
                    signalled, cut = True, not done
        except BaseException:
            proc.send_signal(signal.SIGINT)
            proc.wait()
            raise
        total = time.perf_counter() - t0
    if csv_path.is_file() and csv_path.stat().st_mtime_ns != seen:
        rows_at += [total] * (len(history(run_dir)) - len(rows_at))
    return {"rows_at": rows_at, "total_s": total, "returncode": proc.returncode, "cut": cut}


def log_tail(run_dir: Path, lines: int = 3) -> str:
    text = run_dir.with_suffix(".log").read_text(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:])


# ---- the arms ------------------------------------------------------------------------------------

def arm_overrides(args, arm: str, n: int | None, seed: int, out: Path, epochs: int,
                  frozen: int) -> list:
    """Overrides of one run: --set, the size, seed, output and epochs, then the arm's own (scratch,
    finetune: built here; any other arm: its args.arm_sets entry)."""
    ov = [*args.set, f"seed={seed}", f"output={out}", f"train.epochs={epochs}"]
    if n is not None:
        ov.append(f"data.params.train_size={n}")
    if arm == "scratch":
        return ov + ["model.init_from=null", "train.finetune=null"]
    if arm != "finetune":
        return ov + args.arm_sets.get(arm, [])
    if not args.no_init_from:
        ov.append(f"model.init_from={args.pretrained}")
    if frozen == 0:                 # --frozen-share 0: restore only, train everything from epoch 1
        ov.append(f"train.finetune={{freeze: none, backbone_lr_multiplier: {args.backbone_lr}}}")
    else:
        ov.append(f"train.finetune={{freeze: backbone, unfreeze_after_epochs: {frozen}, "
                  f"backbone_lr_multiplier: {args.backbone_lr}}}")
    return ov + args.pretrained_set


def prebuild(args, n: int | None, seed: int) -> None:
    """Generate a seed's scenes into the cache before any clock starts (each arm's recipe's source
    reads them back; generating them would be charged to whichever arm ran first)."""
    from visiontk.data.make import make_source
    from visiontk.recipe import load_recipe

    ov = [f"seed={seed}"] + ([f"data.params.train_size={n}"] if n is not None else [])
    arms = {(args.arm_recipes[arm], tuple(args.arm_sets.get(arm, ()))): None for arm in args.arms}
    for recipe, own in arms:                  # one pass per distinct recipe and overrides
        source = make_source(load_recipe(recipe, [*args.set, *own, *ov]))
        for split in source.splits():
            source.load(split)


# ---- calibration ---------------------------------------------------------------------------------

def probe(args, arm: str, batch: int, out: Path) -> dict:
    """Per-phase costs of an arm from two short runs on a slice (1 and --probe-images // batch
    steps per epoch), with the real validation set: {start, retrace, step: {phase: s}, epoch:
    {phase: s}} where phase is "frozen" or "train"."""
    walls, starts, retraces, steps = [], [], [], []
    for n in (batch, args.probe_images):
        epochs = PROBE_EPOCHS.get(arm, PROBE_EPOCHS["scratch"])
        run = out / "probes" / f"{arm}-{n}"
        t = train(args.arm_recipes[arm], arm_overrides(args, arm, n, 0, run, epochs, PROBE_FROZEN), run,
                  epochs=epochs, stop_when_done=True)["rows_at"]
        if len(t) < epochs:
            sys.exit(f"probe {run} stopped after {len(t)} of {epochs} epochs: {log_tail(run)}")
        gaps = [b - a for a, b in zip(t, t[1:])]
        if arm != "finetune":
            w = {"train": statistics.mean(gaps)}
            starts.append(t[0] - w["train"])
        else:                       # epoch 2 frozen, epoch 3 unfreezes (retrace), epoch 4 steady
            w = {"frozen": gaps[0], "train": gaps[2]}
            starts.append(t[0] - w["frozen"])
            retraces.append(max(0.0, gaps[1] - gaps[2]))
        walls.append(w)
        steps.append(max(1, n // batch))
    per_step = {ph: max(0.0, (walls[1][ph] - walls[0][ph]) / (steps[1] - steps[0])) for ph in walls[0]}
    return {"start": max(0.0, statistics.mean(starts)),
            "retrace": statistics.mean(retraces) if retraces else 0.0,
            "step": per_step,
            "epoch": {ph: max(0.0, walls[0][ph] - per_step[ph] * steps[0]) for ph in walls[0]}}


def predict(cost: dict, steps: int, epochs: int, frozen: int) -> float:
    """Seconds from start to the end of the last epoch of a run of `epochs` (`frozen` of them
    with the backbone frozen; 0 for scratch)."""
    def epoch(ph):
        return cost["epoch"][ph] + cost["step"][ph] * steps

    trained = epochs - frozen
    wall = cost["start"] + trained * epoch("train")
    return wall + (frozen * epoch("frozen") + (cost["retrace"] if trained else 0.0) if frozen else 0.0)


def measured_over_predicted(run: dict, cost: dict, steps: int) -> float:
    """How much slower than the probes' costs a finished or cut run went: its wall time at its last
    whole epoch over the unscaled prediction for the epochs it did. Against the probes, not against
    the run's own (already scaled) prediction, so that the ratios of runs planned with different
    scales average; a cut run counts too (leaving it out let every later run of a badly calibrated
    arm be cut again)."""
    done, frozen = run["epochs_done"], run["frozen_epochs"]
    return run["wall_s"] / predict(cost, steps, done, min(frozen, done))


def plan(args, arm: str, cost: dict, steps: int, budget: float, scale: float) -> tuple:
    """(epochs, frozen epochs, predicted seconds): the epochs whose predicted wall time is nearest
    the budget; finetune keeps at least one epoch in each phase."""
    best = None
    for epochs in range(2 if arm == "finetune" else 1, 10_000):
        frozen = 0 if arm != "finetune" or args.frozen_share == 0 else \
            min(epochs - 1, max(1, round(args.frozen_share * epochs)))
        wall = scale * predict(cost, steps, epochs, frozen)
        if best is None or abs(wall - budget) < abs(best[2] - budget):
            best = (epochs, frozen, wall)
        if wall > budget:
            break
    return best


# ---- one measured run ----------------------------------------------------------------------------

def measured(args, arm: str, size: str, n: int | None, seed: int, epochs: int, frozen: int,
             budget: float, predicted: float) -> dict:
    """Train one arm for its calibrated epochs; the run's record for results.json."""
    run = args.out / f"{arm}-{size}-{seed}"
    ov = arm_overrides(args, arm, n, seed, run, epochs, frozen)
    t = train(args.arm_recipes[arm], ov, run, epochs=epochs,
              stop_at=budget * args.overrun if args.overrun else None)
    if t["cut"] and t["rows_at"]:     # finish from the best checkpoint: resume with the epochs done
        done = len(t["rows_at"])
        train(args.arm_recipes[arm], [*ov, f"train.epochs={done}"], run, epochs=done, force=False)
    metrics_path = run / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    rows = history(run)
    curve_key, tests = args.curve, args.tests
    cum = 0.0
    curve = []
    for row, wall in zip(rows, t["rows_at"]):
        cum += row.get("epoch_seconds", 0.0)
        curve.append({"epoch": int(row["epoch"]) + 1, "wall_s": round(wall, 2),
                      "cum_epoch_s": round(cum, 2), curve_key: row.get(curve_key),
                      "learning_rate": row.get("learning_rate")})
    rec = {"arm": arm, "size": size, "train_size": n, "seed": seed, "budget_s": budget,
           "epochs": epochs, "frozen_epochs": frozen, "predicted_s": round(predicted, 1),
           "epochs_done": len(rows), "wall_s": round(t["rows_at"][-1], 1) if t["rows_at"] else None,
           "total_s": round(t["total_s"], 1), "cut": t["cut"], "run": str(run),
           "test": {m: metrics.get("test", {}).get(m) for m in tests},
           "best": metrics.get("train", {}).get("best"), "curve": curve}
    if "test" not in metrics:
        rec["error"] = log_tail(run)
    return rec


# ---- report --------------------------------------------------------------------------------------

def mean_std(values: list, digits: int = 3) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def report(runs: list, sizes: list, tests: tuple) -> tuple[str, str]:
    """(size x arm table, fine-tune gain table) of the finished runs."""
    rows, gains = [], []
    for size, _n, _b in sizes:
        by_arm = {arm: [r for r in runs if r["size"] == size and r["arm"] == arm and "error" not in r]
                  for arm in ARMS}
        for arm, rs in by_arm.items():
            if rs:
                rows.append([size, arm, len(rs), *(mean_std([r["test"][m] for r in rs]) for m in tests),
                             mean_std([r["epochs_done"] for r in rs], 1)
                             + f" ({mean_std([r['frozen_epochs'] for r in rs], 1)})",
                             f"{statistics.mean(r['wall_s'] for r in rs):.0f} ({rs[0]['budget_s']:.0f})",
                             sum(r["cut"] for r in rs)])
        pairs = {r["seed"]: r for r in by_arm["scratch"]}
        diffs = {m: [f["test"][m] - pairs[f["seed"]]["test"][m] for f in by_arm["finetune"]
                     if f["seed"] in pairs] for m in tests}
        if diffs[tests[0]]:
            gains.append([size, len(diffs[tests[0]]), *(mean_std(diffs[m]) for m in tests)])
    main_table = table(["size", "arm", "seeds", *(f"test {m}" for m in tests), "epochs (frozen)",
                        "wall s (budget)", "cut"], rows)
    gain_table = table(["size", "pairs", *(f"finetune - scratch {m}" for m in tests)], gains)
    return main_table, gain_table


# ---- main ----------------------------------------------------------------------------------------

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--task", choices=TASKS, default="detect")
    ap.add_argument("--recipe", help="the base recipe (default: the task's fashion recipe)")
    ap.add_argument("--sizes", default="300,1000,all",
                    help="training scenes per run, comma list; `all`: the recipe's train_size")
    ap.add_argument("--seeds", default="0,1,2", help="seeds of the numbered sizes")
    ap.add_argument("--seeds-all", default="0", help="seeds of the size `all` ('' for none)")
    ap.add_argument("--pretrained", default="runs/fashion_backbone",
                    help="the pretrained run or file, given to the finetune arm as model.init_from")
    ap.add_argument("--no-init-from", action="store_true",
                    help="no model.init_from (the pretrained weights come through --pretrained-set, "
                         "e.g. model.backbone.weights=FILE)")
    ap.add_argument("--budget-seconds", default="600",
                    help="wall seconds per run, both arms alike; one value or one per size")
    ap.add_argument("--frozen-share", type=float, default=0.25,
                    help="share of the finetune arm's epochs with the backbone frozen (at least 1; "
                         "0: none, the restored backbone trains from the first epoch)")
    ap.add_argument("--backbone-lr", type=float, default=0.1,
                    help="train.finetune.backbone_lr_multiplier after the unfreeze")
    ap.add_argument("--probe-images", type=int, default=512,
                    help="training scenes of the larger calibration probe")
    ap.add_argument("--overrun", type=float, default=1.5,
                    help="stop a run by SIGINT past this x its budget and finish it (0: never)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="recipe override for both arms (repeatable)")
    ap.add_argument("--pretrained-set", action="append", default=[], metavar="KEY=VALUE",
                    help="recipe override for the finetune arm only (repeatable)")
    ap.add_argument("--out", default="runs/finetune_fashion", help="folder of the runs and results")
    args = ap.parse_args()
    recipe = Path(args.recipe or TASKS[args.task][0])
    args.recipe = str(recipe if recipe.is_file() or args.recipe else ROOT / recipe)
    args.out = Path(args.out).resolve()
    args.arms, args.arm_recipes, args.arm_sets = ARMS, dict.fromkeys(ARMS, args.recipe), {}
    args.curve, args.tests = TASKS[args.task][1:]
    if args.task == "detect":         # the detector alone: detect_fashion.yaml's crop classifier is a
        args.set = ["model.head.crop_classifier=null", *args.set]      # second stage, not a backbone
    return ap, args


def load_results(out: Path, settings: dict) -> tuple[Path, dict]:
    """OUT/results.json and the results to extend: the calibration and finished runs it holds when
    it was written with the same `settings`, else none."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    same = old.get("settings") == settings
    return path, {"settings": settings, "machine": machine(),
                  "calibration": old.get("calibration") if same else None,
                  "runs": old.get("runs", []) if same else []}


def calibrate(args, results: dict, path: Path, batches: dict) -> dict:
    """Every arm's costs (probe), unless results holds them; printed. `batches`: batch size per arm."""
    t_start = time.perf_counter()
    if results["calibration"] is None:
        for n in dict.fromkeys([*batches.values(), args.probe_images]):
            prebuild(args, n, 0)
        results["calibration"] = {arm: probe(args, arm, batches[arm], args.out) for arm in args.arms}
        write_json(path, results)
    cal = results["calibration"]
    print(f"calibration ({time.perf_counter() - t_start:.0f} s): " + "; ".join(
        f"{arm}: start {c['start']:.1f} s, " + ", ".join(
            f"{ph} {c['epoch'][ph]:.2f} s/epoch + {c['step'][ph] * 1000:.0f} ms/step" for ph in c["step"])
        + (f", unfreeze {c['retrace']:.1f} s" if arm == "finetune" else "")
        for arm, c in cal.items()), flush=True)
    if not all(v > 0 for c in cal.values() for v in c["step"].values()):
        print("warning: a probe's larger slice was not slower than its 1-step one (timing noise): "
              "the epochs of larger sizes are underestimated; raise --probe-images", flush=True)
    return cal


def run_sizes(args, results: dict, path: Path, sizes: list, seeds: dict, shapes: dict) -> None:
    """Every size x seed x arm run that results does not hold yet, each printed and saved as it
    ends. `sizes`: (label, scenes or None for all, budget s); `seeds`: {"num": [...], "all":
    [...]}; `shapes`: {arm: (batch size, the recipe's train_size)}."""
    cal = results["calibration"]
    for size, n, budget in sizes:
        for i, seed in enumerate(seeds["all" if n is None else "num"]):
            kept = {r["arm"]: r for r in results["runs"] if (r["size"], r["seed"], r["budget_s"]) ==
                    (size, seed, budget) and "error" not in r}
            if len(kept) < len(args.arms):
                prebuild(args, n, seed)
            for arm in (args.arms if i % 2 == 0 else args.arms[::-1]):   # alternate who runs first
                if arm in kept:
                    continue
                batch, train_size = shapes[arm]
                steps = max(1, (n or train_size) // batch)
                earlier = [measured_over_predicted(r, cal[arm], steps) for r in results["runs"]
                           if (r["arm"], r["size"], r["budget_s"]) == (arm, size, budget)
                           and r["wall_s"] and r["epochs_done"]]
                scale = statistics.mean(earlier) if earlier else 1.0
                epochs, frozen, predicted = plan(args, arm, cal[arm], steps, budget, scale)
                rec = measured(args, arm, size, n, seed, epochs, frozen, budget, predicted)
                results["runs"] = [r for r in results["runs"] if (r["arm"], r["size"], r["seed"]) !=
                                   (arm, size, seed)] + [rec]
                write_json(path, results)
                print(f"  {size} seed {seed} {arm}: {rec['epochs_done']}/{epochs} epochs "
                      f"({frozen} frozen), {rec['wall_s']} s of {budget:.0f} (predicted "
                      f"{predicted:.0f}){', cut' if rec['cut'] else ''}, test "
                      + ", ".join(f"{m} {v:.4f}" if v is not None else f"{m} -"
                                  for m, v in rec["test"].items())
                      + (f"; error: {rec['error']}" if "error" in rec else ""), flush=True)


def main() -> None:
    from visiontk.recipe import load_recipe

    ap, args = parse_args()
    base = load_recipe(args.recipe, args.set)
    batch = base.train.batch_size
    if args.probe_images < 2 * batch:
        ap.error(f"--probe-images must be at least 2 batches ({2 * batch})")
    budgets = [float(b) for b in args.budget_seconds.split(",")]
    labels = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if len(budgets) not in (1, len(labels)):
        ap.error(f"--budget-seconds: one value or one per size ({len(labels)}), got {len(budgets)}")
    sizes = [(s, None if s == "all" else int(s), budgets[i if len(budgets) > 1 else 0])
             for i, s in enumerate(labels)]
    seeds = {"num": [int(s) for s in args.seeds.split(",") if s.strip()],
             "all": [int(s) for s in args.seeds_all.split(",") if s.strip()]}
    curve_key, tests = args.curve, args.tests
    settings = {"task": args.task, "recipe": args.recipe, "set": args.set, "pretrained":
                None if args.no_init_from else args.pretrained, "pretrained_set": args.pretrained_set,
                "frozen_share": args.frozen_share, "backbone_lr": args.backbone_lr,
                "probe_images": args.probe_images}
    path, results = load_results(args.out, settings)
    t_start = time.perf_counter()
    calibrate(args, results, path, dict.fromkeys(ARMS, batch))
    run_sizes(args, results, path, sizes, seeds,
              dict.fromkeys(ARMS, (batch, base.data.params.train_size)))

    from _finetune_plot import plot_curves

    png = args.out / f"curves_{args.task}.png"
    plot_curves(results["runs"], [s for s, _, _ in sizes], curve_key, tests[0], png,
                title=f"{args.task}: validation {curve_key.removeprefix('val_')} vs wall-clock")
    main_table, gain_table = report(results["runs"], sizes, tests)
    m = results["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores; load {m['load']}; "
          f"{time.perf_counter() - t_start:.0f} s in all")
    print(f"finetune_fashion {args.task}: test metrics, mean ± std over seeds; wall = start of "
          f"`visiontk train` to the end of its last epoch")
    print(main_table)
    print(gain_table)
    print(f"results: {path}\ncurves: {png}")
    if any("error" in r for r in results["runs"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
