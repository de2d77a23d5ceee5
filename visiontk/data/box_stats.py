"""Box statistics in numpy (TensorFlow-free): which grid cell a box falls in, and how many objects
a one-object-per-cell grid detector can learn at all.

The cell rule is the one of `visiontk.tasks.detection.encode.encode_grid`, in float32 as there, so a
cell computed here is the cell the training target uses, to the last bit.
"""

from __future__ import annotations

import numpy as np


def grid_cells(boxes, grid: int) -> np.ndarray:
    """The cell (row * grid + col) of each box's centre, as `encode_grid` computes it.

    Args:
        boxes: (..., 4) normalised x1, y1, x2, y2.
        grid: S, the grid is S x S over the image.

    Returns:
        int array of shape boxes.shape[:-1].
    """
    b = np.asarray(boxes, np.float32)
    s = np.float32(grid)
    # float32 like the tf ops: a centre on a cell border lands where the target puts it
    cx = (b[..., 0] + b[..., 2]) / np.float32(2)
    cy = (b[..., 1] + b[..., 3]) / np.float32(2)
    col = np.clip(np.floor(cx * s).astype(np.int64), 0, grid - 1)
    row = np.clip(np.floor(cy * s).astype(np.int64), 0, grid - 1)
    return row * grid + col


def grid_targets(boxes, classes, grid: int) -> np.ndarray:
    """Which objects become a target of `encode_grid`: in each cell holding several centres only
    the largest box (the first of equal ones) is kept; padding (class -1) and empty boxes never are.

    Args:
        boxes: (M, 4) normalised x1, y1, x2, y2 of one image.
        classes: (M,) class ids, -1 for padding.
        grid: S.

    Returns:
        bool (M,): True for each object that is its cell's target.
    """
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    valid = _valid(b, classes)
    cells = grid_cells(b, grid)
    priority = np.where(valid, (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) + np.float32(1),
                        np.float32(0))
    won = np.zeros(len(b), bool)
    for cell in np.unique(cells[valid]):
        # argmax keeps the first of equal priorities, as tf.argmax does in encode_grid
        won[np.argmax(np.where(cells == cell, priority, np.float32(-1)))] = True
    return won


def grid_recall_bound(boxes, classes, grid: int) -> float:
    """The share of objects a one-object-per-cell grid detector can detect at all: the recall it
    cannot exceed, whatever it learns, since only one object per occupied cell is a target.

    Args:
        boxes: (M, 4) for one image or (N, M, 4) for a batch, normalised x1, y1, x2, y2.
        classes: (M,) or (N, M) class ids, -1 for padding.
        grid: S of the S x S grid.

    Returns:
        targets / objects over all images (1.0 when there is no object: none is missed).

    Example:
        >>> grid_recall_bound([[0.1, 0.1, 0.3, 0.3], [0.15, 0.15, 0.2, 0.2]], [0, 1], 4)
        0.5
    """
    b = np.asarray(boxes, np.float32)
    c = np.asarray(classes)
    # (N, M, 4) and (N, M); the product, not -1: an image without objects has M = 0
    b = b.reshape(int(np.prod(b.shape[:-2])), b.shape[-2], 4)
    c = c.reshape(int(np.prod(c.shape[:-1])), c.shape[-1])
    objects = targets = 0
    for bi, ci in zip(b, c):
        objects += int(_valid(bi, ci).sum())
        targets += int(grid_targets(bi, ci, grid).sum())
    return targets / objects if objects else 1.0


def _valid(boxes: np.ndarray, classes) -> np.ndarray:
    """Objects `encode_grid` counts: a class (not the -1 padding) and a box of positive size."""
    c = np.asarray(classes).reshape(-1)
    return (c >= 0) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
