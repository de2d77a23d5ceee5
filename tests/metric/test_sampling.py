"""P x K batches, generated pairs (positive fraction) and triplets from identity annotations."""

from __future__ import annotations

import numpy as np
import pytest

from visiontk.data.base import SplitData
from visiontk.data.sampling import identity_groups, pair_dataset, pk_dataset, subset, triplet_dataset
from visiontk.errors import DataError, RecipeError

pytest.importorskip("tensorflow")

N_IDS, PER_ID = 6, 5


def coded_split():
    """Each 4x4 image holds its row number in every pixel; identity = row // PER_ID; one identity
    (99) with a single image, which sampling must leave out."""
    n = N_IDS * PER_ID
    images = np.repeat(np.arange(n + 1, dtype=np.float32)[:, None, None, None], 16, 1).reshape(n + 1, 4, 4, 1)
    ids = np.r_[np.arange(n) // PER_ID, 99].astype(np.int32)
    return SplitData(images / 1000.0, {"identity": ids, "label": ids})


def row_of(img) -> int:
    return int(round(float(np.asarray(img).mean()) * 1000))


class _Task:
    needs = ("identity",)
    geometry = ()

    @staticmethod
    def encode(image, ann):
        return image, ann["identity"]


def recipe(tiny_recipe, batch):
    # the recipe's own source is not used (coded_split is); image_size keeps its shapes drawable
    return tiny_recipe({"model": {"input_shape": [4, 4, 1]}, "train": {"batch_size": batch},
                        "data": {"params": {"image_size": [32, 32]}, "augment": {}}})


def test_pk_batches_hold_p_identities_times_k_images(tiny_recipe):
    data = coded_split()
    r = recipe(tiny_recipe, 12)
    ds = pk_dataset(data, _Task, r, images_per_identity=3)
    seen_ids = set()
    for x, y in ds.take(20):
        x, y = x.numpy(), y.numpy()
        groups = y.reshape(4, 3)
        assert (groups == groups[:, :1]).all()                       # K consecutive of one identity
        assert len(set(groups[:, 0])) == 4                          # P distinct identities
        rows = [row_of(img) for img in x]
        assert all(data.annotations["identity"][r_] == y_ for r_, y_ in zip(rows, y))   # right images
        seen_ids |= set(y.tolist())
    assert 99 not in seen_ids and seen_ids == set(range(N_IDS))
    # deterministic from the seed
    a = [y.numpy().tolist() for _, y in pk_dataset(data, _Task, r, images_per_identity=3).take(3)]
    b = [y.numpy().tolist() for _, y in pk_dataset(data, _Task, r, images_per_identity=3).take(3)]
    assert a == b


def test_pk_refuses_impossible_batches(tiny_recipe):
    with pytest.raises(RecipeError, match="multiple of model.head.images_per_identity"):
        pk_dataset(coded_split(), _Task, recipe(tiny_recipe, 10), images_per_identity=3)
    with pytest.raises(DataError, match="at least 8 training identities"):
        pk_dataset(coded_split(), _Task, recipe(tiny_recipe, 16), images_per_identity=2)


@pytest.mark.parametrize("fraction", [0.25, 0.75])
def test_pairs_have_the_asked_positive_fraction(tiny_recipe, fraction):
    data = coded_split()
    ids = data.annotations["identity"]
    same_all = []
    for x, same in pair_dataset(data, recipe(tiny_recipe, 50), positive_fraction=fraction).take(8):
        a = [ids[row_of(i)] for i in x["image_a"].numpy()]
        b = [ids[row_of(i)] for i in x["image_b"].numpy()]
        same = same.numpy()
        assert ((np.array(a) == np.array(b)) == (same == 1.0)).all()
        assert 99 not in a + b
        same_all.append(same)
    assert np.mean(np.concatenate(same_all)) == pytest.approx(fraction, abs=0.07)


def test_triplets_are_anchor_positive_negative(tiny_recipe):
    data = coded_split()
    ids = data.annotations["identity"]
    for x, _ in triplet_dataset(data, recipe(tiny_recipe, 16)).take(3):
        a, p, n = ([ids[row_of(i)] for i in x[k].numpy()] for k in ("anchor", "positive", "negative"))
        assert a == p and all(i != j for i, j in zip(a, n))


def test_groups_and_subset():
    data = coded_split()
    groups = identity_groups(data.annotations["identity"])
    assert sorted(groups) == list(range(N_IDS)) and all(len(v) == PER_ID for v in groups.values())
    part = subset(data, groups[2])
    assert (part.annotations["identity"] == 2).all() and len(part) == PER_ID
    files = SplitData(["a.png", "b.png", "c.png"], {"identity": np.array([1, 2, 1])}, files=["a", "b", "c"])
    assert subset(files, [0, 2]).images == ["a.png", "c.png"]
