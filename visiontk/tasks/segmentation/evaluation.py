"""Segmentation metrics from a confusion matrix (numpy): per-class IoU and Dice, mean IoU (as
keras.metrics.MeanIoU: classes absent from both truth and prediction are left out of the mean), mean
IoU of the foreground classes, pixel accuracy; and a PNG of sample overlays (image | truth | predicted).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """(n, n) counts, rows = true class, columns = predicted class.

    Example:
        >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), 2).tolist()
        [[1, 0], [1, 1]]
    """
    t = np.asarray(truth, np.int64).ravel()
    p = np.asarray(pred, np.int64).ravel()
    return np.bincount(t * n + p, minlength=n * n).reshape(n, n)


def scores_from_confusion(cm: np.ndarray, names: list[str]) -> dict:
    """IoU, Dice and accuracy figures; `names[0]` is the background."""
    cm = cm.astype(np.float64)
    tp = np.diag(cm)
    fp, fn = cm.sum(0) - tp, cm.sum(1) - tp
    union = tp + fp + fn
    present = union > 0
    iou = np.divide(tp, union, out=np.zeros_like(tp), where=present)
    dice = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=present)
    fg = present.copy()
    fg[0] = False
    out = {
        "mean_iou": float(iou[present].mean()) if present.any() else 0.0,
        "mean_iou_foreground": float(iou[fg].mean()) if fg.any() else 0.0,
        "mean_dice": float(dice[present].mean()) if present.any() else 0.0,
        "mean_dice_foreground": float(dice[fg].mean()) if fg.any() else 0.0,
        "pixel_accuracy": float(tp.sum() / max(cm.sum(), 1.0)),
        "per_class_iou": {n: (float(v) if ok else None) for n, v, ok in zip(names, iou, present)},
        "per_class_dice": {n: (float(v) if ok else None) for n, v, ok in zip(names, dice, present)},
    }
    return out


def centre_crop(masks: np.ndarray, h: int, w: int) -> np.ndarray:
    """Masks (N, H, W) cut to their centre h x w (valid-padding networks see only the centre)."""
    top, left = (masks.shape[1] - h) // 2, (masks.shape[2] - w) // 2
    return masks[:, top:top + h, left:left + w]


def segmentation_report(predict_fn, batches, names: list[str], output: str, threshold: float,
                        out_dir=None, samples: int = 8) -> dict:
    from visiontk.progress import progress
    from visiontk.runtime.segmentation import label_map

    n = len(names) if output == "softmax" else 2
    cm = np.zeros((n, n), np.int64)
    shown: list = []
    count = 0
    for images, ann in progress(batches, "evaluating"):
        probs = np.asarray(predict_fn(images))
        pred = label_map(probs, output, threshold)
        truth = np.asarray(ann["mask"]).astype(np.int64)
        if output == "sigmoid":
            truth = (truth > 0).astype(np.int64)
        truth = centre_crop(truth, pred.shape[1], pred.shape[2])
        cm += confusion_matrix(truth, pred, n)
        count += len(images)
        if len(shown) < samples:
            crop_imgs = centre_crop(np.asarray(images), pred.shape[1], pred.shape[2])
            for im, t, p in zip(crop_imgs, truth, pred):
                if len(shown) < samples:
                    shown.append((im, t, p))
    result = scores_from_confusion(cm, names if output == "softmax" else ["background", names[-1]])
    result["samples"] = count
    if out_dir is not None and shown:
        result["overlays_png"] = str(write_overlays(shown, names[1:], Path(out_dir) / "segmentation_samples.png"))
    return result


def write_overlays(shown, class_names, path: Path) -> Path:
    """Rows of (image | truth | prediction) overlays, 3x upscaled for small inputs."""
    import cv2

    from visiontk.io import atomic_path
    from visiontk.runtime.draw import blend_mask, label

    rows = []
    for im, t, p in shown:
        rgb = np.clip(np.asarray(im, np.float32) * 255.0, 0, 255).astype(np.uint8)
        if rgb.shape[-1] == 1:
            rgb = np.repeat(rgb, 3, -1)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        scale = max(1, 192 // max(bgr.shape[:2]))
        big = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        up = lambda m: cv2.resize(m.astype(np.uint8), (big.shape[1], big.shape[0]),  # noqa: E731
                                  interpolation=cv2.INTER_NEAREST)
        panels = [big.copy(), blend_mask(big, up(t), class_names), blend_mask(big, up(p), class_names)]
        for panel, text in zip(panels, ("image", "truth", "predicted")):
            label(panel, text, (panel.shape[1] - 90, panel.shape[0] - 20))
        rows.append(np.concatenate(panels, axis=1))
    grid = np.concatenate(rows, axis=0)
    with atomic_path(path) as tmp:
        cv2.imwrite(str(tmp), grid)
    return path
