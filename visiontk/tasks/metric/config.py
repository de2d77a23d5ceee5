"""The `model.head` section of a metric recipe."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import model_validator

from visiontk.recipe.fields import Fraction, NonNegFloat, PositiveFloat, PositiveInt, Strict


BATCH_LOSSES = ("triplet_semihard", "triplet_hard", "triplet_batch_all")
LOSSES = BATCH_LOSSES + ("triplet", "contrastive", "center", "softmax")


class MetricHead(Strict):
    embedding_size: PositiveInt = 64
    hidden: Optional[PositiveInt] = None         # Dense (ReLU) between the backbone and projection
    distance: Literal["euclidean", "squared", "cosine"] = "euclidean"
    loss: Literal[LOSSES] = "triplet_semihard"    # type: ignore[valid-type]
    margin: PositiveFloat = 0.5                  # triplet and contrastive losses
    soft: bool = False                           # triplet_hard: soft margin log(1 + exp(dp - dn))
    images_per_identity: PositiveInt = 4         # K of the P x K batches (P = batch_size / K)
    positive_fraction: Fraction = 0.5            # contrastive: share of same-identity pairs
    center_weight: NonNegFloat = 0.01            # lambda of L_softmax + lambda * L_center
    center_alpha: Fraction = 0.5                 # rate of the centre update
    train_identities: Optional[list[int]] = None     # train on these identities only ...
    heldout_identities: Optional[list[int]] = None   # ... or on all but these
    knn_k: PositiveInt = 5                       # k-NN accuracy on seen identities
    knn_references: PositiveInt = 20000          # training images embedded as k-NN references
    verification_pairs: PositiveInt = 4000       # generated same/different pairs per part
    epoch_eval_images: PositiveInt = 2000        # validation images scored after every epoch
    threshold: Optional[PositiveFloat] = None    # identify: fixed distance threshold (else measured)

    @model_validator(mode="after")
    def _check(self):
        if self.train_identities is not None and self.heldout_identities is not None:
            raise ValueError("set train_identities or heldout_identities, not both")
        for name in ("train_identities", "heldout_identities"):
            ids = getattr(self, name)
            if ids is not None and (not ids or len(set(ids)) != len(ids) or min(ids) < 0):
                raise ValueError(f"{name} must be distinct identity numbers >= 0, got {ids}")
        return self
