"""The recipe's data source: the registered source its `data` section names, configured, and
wrapped by `data.crops` when set (one classification image per object box)."""

from __future__ import annotations

from visiontk.data.base import DataSource


def make_source(recipe) -> DataSource:
    """The recipe's data source, configured."""
    from visiontk.catalog import SOURCES, populate

    populate()
    cls = SOURCES.get(recipe.data.source)
    source = cls(recipe.data.params, input_shape=recipe.model.input_shape, seed=recipe.seed)
    if recipe.data.crops is not None:
        from visiontk.data.box_crops import CroppedSource

        return CroppedSource(source, recipe.data.crops, input_shape=recipe.model.input_shape,
                             seed=recipe.seed)
    return source
