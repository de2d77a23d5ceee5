"""The recipe's architecture as a Keras feature extractor: what the trainer builds the model on, and
what a task builds a second copy from (a two-stage localizer's crop backbone). Below tasks/ and
train/ so that both may use it."""

from __future__ import annotations

from visiontk.errors import ModelError
from visiontk.model_files import load_weights_file


def build_backbone(recipe, *, include_top: bool = False, num_classes: int = 1000,
                   input_shape=None, name: str = "backbone", spec=None, field: str = "model.backbone"):
    """The recipe's architecture as a feature extractor (named outputs), for `input_shape` (default:
    the recipe's) under `name` (a task that reads a second input, such as a crop, builds a copy).

    `spec` (name, weights, params; default the recipe's model.backbone) builds another architecture
    instead, such as a wider one for the crop; `field` is its place in the recipe, for errors."""
    from visiontk.catalog import ARCHITECTURES, populate

    populate()
    spec = spec if spec is not None else recipe.model.backbone
    entry = ARCHITECTURES.entry(spec.name)
    build = ARCHITECTURES.get(entry.name)
    weights = spec.weights
    kwargs = dict(spec.params)
    shape = tuple(input_shape or recipe.model.input_shape)
    if entry.meta.get("pretrained"):
        kwargs["weights"] = weights
    try:
        model = build(shape, include_top=include_top, num_classes=num_classes, name=name, **kwargs)
    except TypeError as exc:
        raise ModelError(f"{field}.params: {exc} (architecture '{entry.name}')") from None
    except ValueError as exc:
        raise ModelError(f"architecture '{entry.name}' cannot be built for input "
                         f"{list(shape)}: {str(exc).splitlines()[0]}") from None
    if not entry.meta.get("pretrained") and weights not in ("none", None):
        if weights == "imagenet":
            raise ModelError(f"{field}.weights: architecture '{entry.name}' has no ImageNet "
                             f"weights in visiontk; use weights: none, a .weights.h5 file, or a "
                             f"keras.applications backbone (visiontk arch list)")
        load_weights_file(model, weights, f"{field}.weights")
    return model
