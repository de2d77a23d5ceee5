"""The metric-learning recipes validate; the synthetic one builds (no data download needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from visiontk.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ["siamese", "contrastive", "center_loss", "identities"]


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_validates(name):
    r = load_recipe(ROOT / "recipes" / f"{name}.yaml")
    assert r.task == "metric"
    if r.data.source == "fashion-mnist":
        # the Fashion-MNIST recipes train on classes 0-6 and hold out 7-9
        assert r.model.head.train_identities == [0, 1, 2, 3, 4, 5, 6]
    if r.model.head.loss.startswith("triplet_"):
        assert r.train.batch_size % r.model.head.images_per_identity == 0


def test_synthetic_identity_recipe_builds_without_data(capsys):
    from visiontk.train.loop import dry_run

    r = load_recipe(ROOT / "recipes" / "identities.yaml")
    p = dry_run(r, echo=print)
    out = capsys.readouterr().out
    assert "embedding" in out and p.model.output.shape[-1] == r.model.head.embedding_size
    assert p.source.extra_info()["identities"] == 48
