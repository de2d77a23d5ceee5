"""The dense-task recipes validate and build (no training; Fashion-MNIST is not read)."""

from pathlib import Path

import pytest

from visiontk.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name, task, output_shape", [
    ("segment", "segmentation", (None, 48, 48, 4)),
    ("count", "counting", (None, 1)),
    ("denoise", "denoising", (None, 28, 28, 1)),
    ("autoencoder_mlp", "denoising", (None, 28, 28, 1)),
])
def test_recipe_builds(name, task, output_shape):
    from visiontk.train.session import prepare

    recipe = load_recipe(ROOT / "recipes" / f"{name}.yaml")
    p = prepare(recipe)
    assert p.task.name == task and p.model.output_shape == output_shape
    if name == "denoise":                       # the acceptance setting: Gaussian sigma 0.3
        assert recipe.model.head.noise == "gaussian" and recipe.model.head.sigma == 0.3
    if name == "count":
        assert (recipe.data.params.min_objects, recipe.data.params.max_objects) == (0, 8)
