"""The overlays drawn on every demo frame: same pixels as the straightforward way, touching only the
panel they draw."""

from __future__ import annotations

import cv2
import numpy as np

TOP = [("sneaker", 0.61), ("sandal", 0.2), ("bag", 0.1)]


def _blended_copy(frame, top):
    """The straightforward top-k panel: darken a whole copy of the frame, then draw the rows."""
    from visiontk.runtime.draw import FONT, _scale, class_color

    s = _scale(frame)
    bar_w, row = int(120 * s), int(22 * s)
    overlay = frame.copy()
    cv2.rectangle(overlay, (0, 0), (int(bar_w * 2.4), row * len(top) + 6), (0, 0, 0), -1)
    out = cv2.addWeighted(overlay, 0.55, frame, 0.45, 0)
    for i, (name, p) in enumerate(top):
        y = 4 + i * row
        cv2.rectangle(out, (4, y + 2), (4 + int(bar_w * float(p)), y + row - 4), class_color(i), -1)
        cv2.putText(out, f"{name} {p:.2f}", (8 + bar_w // 8, y + row - 7), FONT, 0.45 * s,
                    (255, 255, 255), max(1, int(s)), cv2.LINE_AA)
    return out


def test_top_k_panel_equals_the_whole_frame_blend_and_leaves_the_rest_alone():
    from visiontk.runtime.draw import draw_top_k

    rng = np.random.default_rng(0)
    for shape in [(480, 640, 3), (72, 96, 3), (20, 30, 3)]:        # the last: panel past the edges
        frame = (rng.random(shape) * 255).astype(np.uint8)
        want = _blended_copy(frame, TOP)
        got = draw_top_k(frame.copy(), TOP)
        assert got.shape == frame.shape and got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)
        assert (got != frame).any()
        if shape[0] == 480:                # scale 1: 3 rows of 22 px + 6, bars 120 px x 2.4
            np.testing.assert_array_equal(got[73:], frame[73:])
            np.testing.assert_array_equal(got[:, 289:], frame[:, 289:])
