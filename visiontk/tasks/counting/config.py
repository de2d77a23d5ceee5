"""The `model.head` section of a counting recipe."""

from __future__ import annotations

from typing import Literal, Optional

from visiontk.recipe.fields import PositiveFloat, PositiveInt, Strict


class CountingHead(Strict):
    loss: Literal["mse", "mae", "huber", "poisson"] = "huber"
    huber_delta: PositiveFloat = 1.0
    per_class: bool = False                     # one count per class (needs `classes` annotations)
    hidden: Optional[PositiveInt] = None        # optional Dense layer (ReLU) before the output
