"""Counting metrics (numpy): MAE, RMSE, exact-count accuracy, mean error (bias), per-true-count MAE;
and a PNG of predicted against true counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def count_scores(truth: np.ndarray, pred: np.ndarray) -> dict:
    """Scores of predicted totals against true totals (1-D arrays).

    Example:
        >>> count_scores(np.array([1.0, 2.0]), np.array([1.2, 2.9]))["exact_accuracy"]
        0.5
    """
    truth, pred = np.asarray(truth, np.float64), np.maximum(np.asarray(pred, np.float64), 0.0)
    err = pred - truth
    out = {"mae": float(np.abs(err).mean()), "rmse": float(np.sqrt((err ** 2).mean())),
           "exact_accuracy": float((np.round(pred) == np.round(truth)).mean()),
           "mean_error": float(err.mean())}
    out["mae_by_true_count"] = {str(int(c)): float(np.abs(err[np.round(truth) == c]).mean())
                                for c in np.unique(np.round(truth))}
    return out


def counting_report(predict_fn, batches, class_names, per_class: bool, out_dir=None) -> dict:
    from visiontk.progress import progress

    truth, pred, truth_k, pred_k = [], [], [], []
    for images, ann in progress(batches, "evaluating"):
        out = np.asarray(predict_fn(images), np.float64).reshape(len(images), -1)
        pred.append(out.sum(1))
        if per_class:
            k = out.shape[1]
            classes = np.asarray(ann["classes"]).astype(np.int64)
            onehot = (classes[..., None] == np.arange(k)).sum(1)
            truth_k.append(onehot)
            pred_k.append(out)
            truth.append(onehot.sum(1).astype(np.float64))
        else:
            truth.append(np.asarray(ann["count"], np.float64).reshape(-1))
    truth, pred = np.concatenate(truth), np.concatenate(pred)
    result = count_scores(truth, pred)
    result["samples"] = int(len(truth))
    if per_class:
        tk, pk = np.concatenate(truth_k), np.maximum(np.concatenate(pred_k), 0.0)
        result["per_class_mae"] = {n: float(np.abs(pk[:, i] - tk[:, i]).mean())
                                   for i, n in enumerate(class_names)}
        result["per_class_exact_accuracy"] = float((np.round(pk) == tk).all(1).mean())
    if out_dir is not None:
        result["scatter_png"] = str(plot_counts(truth, pred, Path(out_dir) / "counts.png"))
    return result


def plot_counts(truth, pred, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from visiontk.io import atomic_path

    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    jitter = rng.uniform(-0.15, 0.15, len(truth))
    ax.scatter(truth + jitter, pred, s=6, alpha=0.4)
    hi = float(max(truth.max(), pred.max(), 1.0)) + 0.5
    ax.plot([0, hi], [0, hi], "k--", lw=1)
    ax.set_xlabel("true count")
    ax.set_ylabel("predicted count")
    ax.set_xlim(-0.5, hi)
    ax.set_ylim(-0.5, hi)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path
