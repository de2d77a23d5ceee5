"""Test helper: the outputs a perfect grid detector would give for encoded targets."""

import numpy as np


def targets_to_outputs(targets, boxes_per_cell: int, slot: int = 0):
    """numpy: encoded targets (N, S, S, 5 + C) -> the outputs of a perfect model (N, S, S, B*5+C),
    the object in predictor `slot` of its cell (confidence 1), every other predictor empty.
    Used to check encode -> decode round trips."""
    t = np.asarray(targets, np.float64)
    n, s = t.shape[:2]
    out = np.zeros((n, s, s, 5 * boxes_per_cell + t.shape[-1] - 5))
    out[..., 5 * slot:5 * slot + 5] = t[..., :5]
    out[..., 5 * boxes_per_cell:] = t[..., 5:]
    return out
