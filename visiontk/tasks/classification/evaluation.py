"""Top-1 / top-5 accuracy, per-class accuracy and a confusion-matrix PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def confusion(labels: np.ndarray, preds: np.ndarray, n: int) -> np.ndarray:
    cm = np.zeros((n, n), np.int64)
    np.add.at(cm, (labels, preds), 1)
    return cm


def classification_report(predict_fn, batches, class_names, out_dir=None) -> dict:
    from visiontk.progress import progress

    labels, probs = [], []
    for images, ann in progress(batches, "evaluating"):
        probs.append(np.asarray(predict_fn(images)))
        labels.append(np.asarray(ann["label"]))
    labels, probs = np.concatenate(labels), np.concatenate(probs)
    n = len(class_names)
    top = np.argsort(-probs, axis=1)
    cm = confusion(labels, top[:, 0], n)
    per_class = cm.diagonal() / np.maximum(cm.sum(1), 1)
    out = {"accuracy": float((top[:, 0] == labels).mean()), "samples": int(len(labels)),
           "per_class_accuracy": {name: float(a) for name, a in zip(class_names, per_class)}}
    if n > 5:
        out["top5_accuracy"] = float((top[:, :5] == labels[:, None]).any(1).mean())
    if out_dir is not None:
        out["confusion_matrix_png"] = str(plot_confusion(cm, class_names, Path(out_dir) / "confusion_matrix.png"))
    return out


def plot_confusion(cm: np.ndarray, names, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from visiontk.io import atomic_path

    n = len(names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * n, 0.8 + 0.6 * n))
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path
