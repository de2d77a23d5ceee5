"""Random erasing (data.augment.erasing): one noise rectangle of 2-40 % of the image per erased
example, drawn per example; tasks whose target is a label only (classification, metric learning)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from visiontk.data.augment import ERASE_AREA, check_augment, make_augment
from visiontk.errors import RecipeError
from visiontk.recipe.schema import Augment


def _erased(p, n=200, size=32, seed=0):
    apply = make_augment(Augment(erasing=p), geometry=(), seed=seed)
    image = np.full((n, size, size, 1), 0.5, np.float32)         # noise is never exactly 0.5
    out, ann = apply(tf.constant(image), {"label": tf.range(n)})
    return out.numpy(), ann["label"].numpy()


def test_erasing_draws_one_rectangle_of_the_documented_size_per_example():
    out, labels = _erased(0.5)
    changed = out[..., 0] != 0.5
    hit = changed.reshape(len(out), -1).any(axis=1)
    assert 0.35 < hit.mean() < 0.65                               # probability 0.5, per example
    np.testing.assert_array_equal(labels, np.arange(len(out)))   # labels untouched
    for mask in changed[hit]:
        ys, xs = np.nonzero(mask)
        box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
        # the changed pixels fill one axis-aligned rectangle (a pixel could redraw 0.5: ~never)
        assert len(ys) == box
        assert ERASE_AREA[0] * 32 * 32 - 32 <= box <= ERASE_AREA[1] * 32 * 32 + 64
    # rectangles differ from example to example
    assert len({tuple(np.argwhere(m).min(0)) for m in changed[hit]}) > 10
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_erasing_zero_and_one():
    assert make_augment(Augment(), geometry=(), seed=0) is None
    out, _ = _erased(1.0, n=20)
    assert (out[..., 0] != 0.5).reshape(20, -1).any(axis=1).all()


def test_erasing_works_on_one_example():
    apply = make_augment(Augment(erasing=1.0), geometry=(), seed=1)
    out, ann = apply(tf.fill((16, 16, 3), 0.5), {"label": tf.constant(3)})
    assert out.shape == (16, 16, 3) and (out.numpy() != 0.5).any() and int(ann["label"]) == 3


@pytest.mark.parametrize("task_name", ["detection", "segmentation", "localization", "counting", "denoising"])
def test_erasing_refused_where_a_target_would_have_to_follow(task_name):
    from visiontk.catalog import TASKS, populate

    populate()
    task = TASKS.get(task_name)
    with pytest.raises(RecipeError, match="data.augment.erasing: not supported"):
        check_augment(Augment(erasing=0.4), task)


@pytest.mark.parametrize("task_name", ["classification", "metric"])
def test_erasing_accepted_where_the_target_is_a_label(task_name):
    from visiontk.catalog import TASKS, populate

    populate()
    check_augment(Augment(erasing=0.4), TASKS.get(task_name))
