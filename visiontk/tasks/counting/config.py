"""The `model.head` section of a counting recipe."""

from __future__ import annotations

from typing import Literal, Optional

from visiontk.recipe.fields import PositiveFloat, PositiveInt, Strict


class CountingHead(Strict):
    loss: Literal["mse", "mae", "huber", "poisson"] = "huber"
    huber_delta: PositiveFloat = 1.0
    per_class: bool = False                     # one count per class (needs `classes` annotations)
    hidden: Optional[PositiveInt] = None        # optional Dense layer (ReLU) before the output
    # density counting (crowd-counting style): a map at 1/density_stride of the input, trained on
    # the objects' centres (each a Gaussian of density_sigma cells summing to 1; needs `boxes`),
    # whose sum is the count; the exported model still outputs the count(s) alone
    density: bool = False
    density_stride: PositiveInt = 8
    density_sigma: PositiveFloat = 1.0
    density_weight: PositiveFloat = 10.0        # weight of the map's squared error beside `loss`
    decoder_width: PositiveInt = 64             # channels of the decoder up to the map's stride
