"""Learning curves of benchmarks/finetune_fashion.py: validation metric vs wall-clock seconds.

Not a script: finetune_fashion.py calls `plot_curves` with the runs of its results.json.
"""

from __future__ import annotations

import statistics
from pathlib import Path

COLORS = {"scratch": "tab:blue", "finetune": "tab:orange"}


def plot_curves(runs: list, sizes: list, curve_key: str, test_metric: str, path: Path,
                title: str = "") -> None:
    """One panel per size, both arms; every seed a thin line (its unfreeze marked on the finetune
    arm), the legend giving each arm's test metric (mean over seeds) and the dashed line its
    budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sizes), figsize=(max(6.4, 4.6 * len(sizes)), 3.9), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        budget = None
        for arm, color in COLORS.items():
            rs = [r for r in runs if r["size"] == size and r["arm"] == arm and r["curve"]]
            tests = [r["test"][test_metric] for r in rs if r["test"].get(test_metric) is not None]
            label = (f"{arm}: test {test_metric} {statistics.mean(tests):.3f} "
                     f"({len(tests)} seed{'s' * (len(tests) > 1)})" if tests else arm)
            for r in rs:
                pts = [(p["wall_s"], p[curve_key]) for p in r["curve"] if p.get(curve_key) is not None]
                if not pts:
                    continue
                xs, ys = zip(*pts)
                ax.plot(xs, ys, "-", color=color, lw=0.9, marker="o", ms=2.5, alpha=0.8, label=label)
                label = None                               # one legend entry per arm
                thawed = [(p["wall_s"], p[curve_key]) for p in r["curve"]
                          if arm == "finetune" and p["epoch"] == r["frozen_epochs"] + 1
                          and p.get(curve_key) is not None]
                if thawed:
                    ax.plot(*thawed[0], "v", color=color, ms=6)
                budget = r["budget_s"]
        if budget:
            ax.axvline(budget, color="grey", ls="--", lw=0.8)
        ax.set_title(f"{size} training scenes")
        ax.set_xlabel("wall-clock seconds (start of visiontk train)")
        ax.set_ylabel(curve_key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title + "\n▼ first unfrozen epoch; dashed: the budget", fontsize=9)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
