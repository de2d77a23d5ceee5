"""Recipes: the YAML files that describe a job. See `load_recipe`."""

from visiontk.recipe.loader import load_recipe
from visiontk.recipe.schema import Recipe

__all__ = ["Recipe", "load_recipe"]
