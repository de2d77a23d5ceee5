"""The `model.head` section of a denoising recipe."""

from __future__ import annotations

from typing import Literal, Union


from visiontk.recipe.fields import Fraction, NonNegFloat, NonNegInt, PositiveInt, Strict


NoiseKind = Literal["none", "gaussian", "salt_pepper", "masking"]


class DenoisingHead(Strict):
    noise: Union[NoiseKind, list[NoiseKind]] = "gaussian"    # one kind or several, applied in order
    sigma: NonNegFloat = 0.3               # gaussian: standard deviation on [0, 1] pixels
    amount: Fraction = 0.2                 # salt_pepper / masking: fraction of the pixels hit
    salt_ratio: Fraction = 0.5             # salt_pepper: share of the hit pixels made white
    clip: bool = True                      # clip the noisy image to [0, 1]
    loss: Literal["mse", "mae", "bce"] = "mse"
    decoder_width: PositiveInt = 32        # decoder built for backbones without their own
    samples: NonNegInt = 8                 # rows of the noisy | denoised | clean grid of evaluate
    train_ssim: bool = False               # SSIM also per training step (slow on CPU; evaluate has it)
