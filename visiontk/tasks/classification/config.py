"""The `model.head` section of a classification recipe."""

from __future__ import annotations

from typing import Annotated, Optional

from visiontk.recipe.fields import PositiveInt, Strict, between


class ClassificationHead(Strict):
    top_k: PositiveInt = 3          # how many classes decode keeps (and the overlay shows)
    hidden: Optional[PositiveInt] = None   # optional Dense layer (ReLU) before the classifier
    # loss weight of each auxiliary classifier of the backbone (GoogLeNet: 0.3); None: no aux heads
    aux_weight: Optional[Annotated[float, between(0.0, 1.0, lo_open=True)]] = None
