"""The PNGs of a detection evaluation: sample detections (cv2), the precision-recall curves and the
confusion matrix (matplotlib, as the other plots of visiontk). Drawing only: the figures come from
visiontk.tasks.detection.evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PR_FIGSIZE = (8.0, 5.0)     # inches at DPI: the PNG is 800 x 500 pixels
DPI = 100
LEGEND_CLASSES = 20         # more classes: grey curves without a legend (the mean keeps its label)


def plot_pr_curves(recall: np.ndarray, precision: np.ndarray, names, path: Path) -> Path:
    """One PNG: the precision-recall curve of every class at IoU 0.5 and their mean (thick), the
    legend giving each AP@0.5 (the mean's is the mAP@0.5), as Ultralytics' PR_curve.png.

    Args:
        recall: the recall points (R,), COCO's 0, 0.01, ..., 1.
        precision: (R, C) COCO's interpolated precision per class; a column of -1 is a class without
            ground truth, left out of the plot and of the mean.
        names: the C class names.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from visiontk.io import atomic_path

    present = (precision > -1).all(0)
    fig, ax = plt.subplots(figsize=PR_FIGSIZE)
    legend = present.sum() <= LEGEND_CLASSES
    for k in np.flatnonzero(present):
        p = precision[:, k]
        ax.plot(recall, p, linewidth=1, color=None if legend else "grey",
                label=f"{names[k]} {p.mean():.3f}" if legend else None)
    if present.any():
        mean = precision[:, present].mean(1)
        ax.plot(recall, mean, linewidth=3, color="blue", label=f"all classes {mean.mean():.3f} mAP@0.5")
        ax.legend(bbox_to_anchor=(1.02, 1), loc="upper left", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no ground truth", ha="center", va="center")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision",
           title="precision-recall at IoU 0.5 (COCOeval, all sizes, 100 detections per image)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    plt.close(fig)
    return path


def plot_detection_confusion(counts: np.ndarray, labels, path: Path) -> Path:
    """The detection confusion matrix as a PNG, drawn as classification's: rows the ground truth
    ("true"), columns the detections ("predicted"), the last of each "background"; cells coloured
    by their share of the row, labelled with their counts."""
    from visiontk.tasks.classification.evaluation import plot_confusion

    return plot_confusion(counts, labels, path)


def draw_samples(images, preds, gts, meta, path: Path, cols: int = 4) -> Path:
    """A grid of images: ground truth in thin white, detections above the decode threshold."""
    import cv2

    from visiontk.io import atomic_path
    from visiontk.runtime.detection import DetectionPrediction, draw

    threshold = meta["decode"].get("score_threshold", 0.0)
    tiles = []
    for img, pred, (boxes, _) in zip(images, preds, gts):
        frame = (np.clip(img, 0, 1) * 255).astype(np.uint8)
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR if frame.shape[-1] == 1 else cv2.COLOR_RGB2BGR)
        frame = cv2.resize(frame, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
        for b in boxes:
            cv2.rectangle(frame, tuple(int(v * 2) for v in b[:2]), tuple(int(v * 2) for v in b[2:]),
                          (255, 255, 255), 1)
        shown = DetectionPrediction(boxes=[
            type(b)(b.x1 * 2, b.y1 * 2, b.x2 * 2, b.y2 * 2, b.cls, b.score, b.name)
            for b in pred.boxes if b.score >= threshold])
        tiles.append(draw(frame, shown, meta))
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i:i + cols], 1) for i in range(0, len(tiles), cols)]
    with atomic_path(path) as tmp:
        cv2.imwrite(str(tmp), np.concatenate(rows, 0))
    return path
