"""The overlays drawn on every demo frame: the top-k panel darkens the same pixels as blending a
black rectangle over a whole copy of the frame did, and touches nothing outside the panel."""

from __future__ import annotations

import cv2
import numpy as np

TOP = [("sneaker", 0.61), ("sandal", 0.2), ("bag", 0.1)]


def test_top_k_panel_darkens_as_the_whole_frame_blend_did():
    from visiontk.runtime.draw import _scale, draw_top_k

    rng = np.random.default_rng(0)
    for shape in [(480, 640, 3), (72, 96, 3), (20, 30, 3)]:        # the last: panel past the edges
        frame = (rng.random(shape) * 255).astype(np.uint8)
        s = _scale(frame)
        black = frame.copy()                         # no rows: the darkened panel alone
        cv2.rectangle(black, (0, 0), (int(int(120 * s) * 2.4), 6), (0, 0, 0), -1)
        want = cv2.addWeighted(black, 0.55, frame, 0.45, 0)
        got = draw_top_k(frame.copy(), [])
        assert got.shape == frame.shape and got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)


def test_top_k_draws_inside_its_panel_only():
    from visiontk.runtime.draw import draw_top_k

    frame = (np.random.default_rng(1).random((480, 640, 3)) * 255).astype(np.uint8)
    got = draw_top_k(frame.copy(), TOP)
    # scale 1 at 480 px: 3 rows of 22 px + 6, bars 120 px wide, the panel 2.4 bars wide
    np.testing.assert_array_equal(got[73:], frame[73:])
    np.testing.assert_array_equal(got[:, 289:], frame[:, 289:])
    dimmed = cv2.addWeighted(frame[:73, :289], 0.45, frame[:73, :289], 0.0, 0)
    drawn = (got[:73, :289] != dimmed).any(-1)            # bars and names over the dimmed panel
    assert 0.1 < drawn.mean() < 0.9
