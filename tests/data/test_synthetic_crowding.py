"""Synthetic scenes with small, crowded and shared-cell objects, and the grid detector's recall bound.

The default scenes must stay the ones every recipe trained on: their bytes are pinned below (hashes
computed with the generator before crowding and shared cells were added).
"""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest

from visiontk.data.box_stats import grid_cells, grid_recall_bound, grid_targets
from visiontk.data.scenes import MIN_OBJECT_PX, SHAPES
from visiontk.data.sources.synthetic import SyntheticConfig, SyntheticScenes
from visiontk.errors import SourceError

SMALL_CROWDED = dict(min_objects=20, max_objects=30, size_range=(0.0625, 0.15), image_size=(128, 128))


def scenes(n=24, split="train", input_shape=(64, 64, 3), seed=0, **kw):
    return SyntheticScenes(SyntheticConfig(**kw), input_shape=input_shape, seed=seed).head(split, n)


def digest(data) -> tuple[str, str]:
    ann = hashlib.sha256()
    for k in sorted(data.annotations):
        ann.update(k.encode())
        ann.update(np.ascontiguousarray(data.annotations[k]).tobytes())
    return hashlib.sha256(np.ascontiguousarray(data.images).tobytes()).hexdigest()[:16], ann.hexdigest()[:16]


@pytest.mark.parametrize("kw, expected", [
    (dict(), ("b61c05958755e06b", "6b2926757d3c773a")),
    (dict(split="val"), ("671b213d2ba2e1e8", "a4690c878afd7fe6")),
    (dict(n=16, input_shape=(48, 48, 1), seed=3, classes=list(SHAPES), max_objects=6, max_overlap=0.0),
     ("48d7900928ea0a4a", "b1e899560835cbd8")),
    (dict(n=8, seed=1, max_objects=12, size_range=(0.1, 0.2), image_size=(128, 96)),
     ("c4df07bd8f365bcf", "96f8aea733400cb5")),
], ids=["default-train", "default-val", "grey-all-shapes", "small-128x96"])
def test_scenes_without_the_new_fields_are_byte_identical_to_before(kw, expected):
    assert digest(scenes(**kw)) == expected


def objects(data):
    """Per scene: the valid boxes (normalised) and classes."""
    ann = data.annotations
    return [(b[c >= 0], c[c >= 0]) for b, c in zip(ann["boxes"], ann["classes"])]


def max_pair_iou(boxes) -> float:
    best = 0.0
    for a, b in itertools.combinations(boxes, 2):
        ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
        best = max(best, ix * iy / union)
    return best


def nearest_centre_px(boxes, side):
    c = (boxes[:, :2] + boxes[:, 2:]) / 2 * side
    d = np.linalg.norm(c[:, None] - c[None], axis=-1) + np.eye(len(c)) * 1e9
    return d.min(1)


@pytest.mark.parametrize("clusters", [0, 3])
def test_small_crowded_scenes_get_the_objects_asked_for_and_respect_max_overlap(clusters):
    data = scenes(20, **SMALL_CROWDED, clusters=clusters)
    counts = data.annotations["count"]
    assert counts.min() >= 18 and counts.mean() >= 22          # 20-30 asked: few placements fail
    for boxes, _ in objects(data):
        assert max_pair_iou(boxes) <= 0.3 + 1e-5
        # 8 to 19 px across (the circumcircle): a box's longer side is at least 0.707 of that (a
        # square's side is its diagonal / sqrt 2)
        longer = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) * 128
        assert longer.min() >= 0.7 * 8 and longer.max() <= 0.15 * 128 + 1e-3


def test_clusters_put_objects_closer_together_than_uniform_scenes():
    kw = dict(SMALL_CROWDED, min_objects=10, max_objects=10)
    uniform = np.mean([nearest_centre_px(b, 128).mean() for b, _ in objects(scenes(20, **kw))])
    grouped = np.mean([nearest_centre_px(b, 128).mean()
                       for b, _ in objects(scenes(20, **kw, clusters=1, cluster_spread=0.08))])
    assert grouped < 0.75 * uniform, (grouped, uniform)


@pytest.mark.parametrize("kw", [dict(min_objects=2, max_objects=8, image_size=(96, 96)),
                                dict(min_objects=1, max_objects=5, size_range=(0.06, 0.3), clusters=2)])
def test_shared_cell_every_object_shares_its_cell_with_one_other_centre(kw):
    data = scenes(40, shared_cell=7, **kw)
    counts = data.annotations["count"]
    assert (counts % 2 == 0).all() and counts.mean() >= 3
    for boxes, _ in objects(data):
        _, per_cell = np.unique(grid_cells(boxes, 7), return_counts=True)
        assert (per_cell == 2).all()
        assert max_pair_iou(boxes) <= 0.3 + 1e-5
    assert grid_recall_bound(data.annotations["boxes"], data.annotations["classes"], 7) == 0.5


def test_new_fields_are_deterministic_and_head_is_the_start_of_load():
    kw = dict(SMALL_CROWDED, clusters=2, shared_cell=8, train_size=6)
    src = SyntheticScenes(SyntheticConfig(**kw), seed=5)
    full, again = src.load("train"), SyntheticScenes(SyntheticConfig(**kw), seed=5).head("train", 3)
    np.testing.assert_array_equal(full.images[:3], again.images)
    np.testing.assert_array_equal(full.annotations["boxes"][:3], again.annotations["boxes"])


def test_objects_of_the_smallest_size_draw_every_shape_with_pixels_and_a_box():
    side = 64
    data = scenes(20, classes=list(SHAPES), min_objects=4, max_objects=4, max_overlap=0.0, texture=0.0,
                  size_range=(MIN_OBJECT_PX / side, MIN_OBJECT_PX / side), image_size=(side, side))
    for i, (boxes, classes) in enumerate(objects(data)):
        assert (boxes[:, 2:] > boxes[:, :2]).all()
        for (x1, y1, x2, y2), c in zip(boxes * side, classes):
            patch = data.annotations["mask"][i, int(y1):int(np.ceil(y2)) + 1, int(x1):int(np.ceil(x2)) + 1]
            assert (patch == c + 1).any(), (SHAPES[c], (x1, y1, x2, y2))


# --- grid_recall_bound: hand-made boxes ---------------------------------------------------------

@pytest.mark.parametrize("boxes, classes, grid, bound", [
    ([[0.1, 0.1, 0.3, 0.3], [0.15, 0.15, 0.2, 0.2]], [0, 1], 4, 0.5),      # two centres, one cell
    ([[0.1, 0.1, 0.3, 0.3], [0.6, 0.6, 0.8, 0.8]], [0, 1], 4, 1.0),        # two cells
    ([[0.1, 0.1, 0.3, 0.3], [0.6, 0.6, 0.8, 0.8]], [0, 1], 1, 0.5),        # a 1 x 1 grid: one target
    ([[0.4, 0.4, 0.6, 0.6], [0.2, 0.2, 0.3, 0.3]], [0, 0], 2, 1.0),        # centre (0.5, 0.5) -> row 1, col 1
    ([[0.3, 0.3, 0.5, 0.5], [0.5, 0.5, 0.5, 0.7], [0, 0, 1, 1]], [2, 0, -1], 4, 1.0),  # empty box, padding
    ([[0.8, 0.8, 1.0, 1.0], [0.95, 0.95, 1.0, 1.0]], [0, 0], 4, 0.5),      # centre near 1: last cell
    ([[0, 0, 1, 1]] * 0, [], 4, 1.0),                                      # no object: none missed
])
def test_grid_recall_bound_on_hand_made_boxes(boxes, classes, grid, bound):
    assert grid_recall_bound(np.reshape(boxes, (-1, 4)), classes, grid) == bound


def test_grid_cells_follow_the_float32_floor_rule_on_borders():
    # centre x = 0.5 exactly, y = 0.25 exactly: cell (1, 2) of a 4 x 4 grid, clipped at 1.0
    assert grid_cells([[0.4, 0.2, 0.6, 0.3], [0.9, 0.9, 1.1, 1.1]], 4).tolist() == [6, 15]


def test_grid_targets_keep_the_largest_box_of_a_cell_and_the_first_of_equal_ones():
    boxes = [[0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.25, 0.25], [0.12, 0.12, 0.18, 0.18],
             [0.6, 0.6, 0.7, 0.7], [0.6, 0.6, 0.7, 0.7]]
    assert grid_targets(boxes, [0, 1, 2, 0, 1], 2).tolist() == [False, True, False, True, False]


def test_grid_recall_bound_pools_objects_over_a_batch():
    boxes = np.zeros((2, 3, 4), np.float32)
    classes = np.full((2, 3), -1)
    boxes[0, :2] = [[0.1, 0.1, 0.3, 0.3], [0.15, 0.15, 0.2, 0.2]]    # 2 objects, 1 target
    boxes[1, :3] = [[0.1, 0.1, 0.3, 0.3], [0.6, 0.6, 0.8, 0.8], [0.1, 0.6, 0.3, 0.8]]   # 3 and 3
    classes[0, :2], classes[1] = 0, 1
    assert grid_recall_bound(boxes, classes, 2) == pytest.approx(4 / 5)


# --- against encode_grid on generated scenes ----------------------------------------------------

@pytest.mark.parametrize("grid, kw", [
    (7, dict()),
    (8, dict(SMALL_CROWDED, clusters=3)),
    (8, dict(min_objects=2, max_objects=8, size_range=(0.06, 0.3), image_size=(128, 128), shared_cell=8)),
    (6, dict(min_objects=2, max_objects=8, image_size=(96, 96), shared_cell=6)),
])
def test_grid_recall_bound_counts_the_target_cells_of_encode_grid(grid, kw):
    from visiontk.tasks.detection.encode import encode_grid

    data = scenes(12, **kw)
    ann = data.annotations
    n_targets = n_objects = 0
    for boxes, classes in zip(ann["boxes"], ann["classes"]):
        target = encode_grid(boxes, classes, grid, 3).numpy()
        won = grid_targets(boxes, classes, grid)
        flagged = np.flatnonzero(target[..., 0].reshape(-1))
        assert sorted(grid_cells(boxes[won], grid).tolist()) == flagged.tolist()
        # the owner's class is the one encoded in its cell
        np.testing.assert_array_equal(
            target.reshape(grid * grid, -1)[grid_cells(boxes[won], grid), 5:].argmax(-1), classes[won])
        n_targets += len(flagged)
        n_objects += int((classes >= 0).sum())
    assert n_targets == pytest.approx(grid_recall_bound(ann["boxes"], ann["classes"], grid) * n_objects)


# --- errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, message", [
    (dict(shared_cell=7, max_objects=1), "must include an even number of at least 2"),
    (dict(shared_cell=7, min_objects=3, max_objects=3), r"min_objects..max_objects \(3..3\)"),
    (dict(shared_cell=1), "grid size of 2 or more"),
    (dict(shared_cell=7, max_overlap=0.0), "lower size_range's low end below 0.143"),
    (dict(cluster_spread=0.2), "cluster_spread applies only with clusters"),
    (dict(clusters=2, cluster_spread=0.0), "cluster_spread must be greater than 0"),
    (dict(size_range=(0.02, 0.1), image_size=(128, 128)), "2.6 px on 128 x 128 images.*at least 0.024"),
    (dict(shared_cell=100, image_size=(64, 64)), "use at most 64"),
])
def test_config_errors_say_what_to_change(kw, message):
    with pytest.raises(ValueError, match=message):
        SyntheticConfig(**kw)


def test_objects_too_small_for_the_model_input_are_refused_when_the_source_is_made():
    with pytest.raises(SourceError, match=r"data.params: size_range \[0.05, 0.2\] makes objects of 1.6 px "
                                          r"on 32 x 32 images.*model.input_shape gives the image size"):
        SyntheticScenes(SyntheticConfig(size_range=(0.05, 0.2)), input_shape=(32, 32, 3))


def test_recipe_check_refuses_objects_too_small_for_the_input_size(tmp_path):
    """Without data.params.image_size the size depends on model.input_shape: `recipe check` still
    names the field and the line, before anything is built."""
    from tests.conftest import run_cli

    path = tmp_path / "small.yaml"
    path.write_text("task: detection\nmodel: {backbone: {name: lenet5, weights: none}, "
                    "input_shape: [32, 32, 3]}\ndata:\n  params: {size_range: [0.05, 0.2]}\n")
    res = run_cli("recipe", "check", path)
    assert res.returncode == 2
    assert "data.params.size_range: size_range [0.05, 0.2] makes objects of 1.6 px on 32 x 32" in res.stderr
    assert f"({path} line 4)" in res.stderr


def test_grey_scenes_do_not_depend_on_the_cpu_blas_kernel():
    """OpenBLAS picks its float32 kernels per CPU, and they round sums differently: the grey scenes
    once changed bytes between an Intel and an AMD machine. Forced kernels, one subprocess each."""
    import os
    import subprocess
    import sys

    code = ("from visiontk.data.sources.synthetic import SyntheticConfig, SyntheticScenes;"
            "from visiontk.data.scenes import SHAPES; import hashlib, numpy as np;"
            "d = SyntheticScenes(SyntheticConfig(classes=list(SHAPES), max_objects=6, max_overlap=0.0),"
            " input_shape=(48, 48, 1), seed=3).head('train', 16);"
            "print(hashlib.sha256(np.ascontiguousarray(d.images).tobytes()).hexdigest()[:16])")
    for core in ("Haswell", "SkylakeX", "Zen"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "OPENBLAS_CORETYPE": core})
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.split()[-1] == "48d7900928ea0a4a", core
