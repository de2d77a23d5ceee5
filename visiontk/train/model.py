"""Backbone + task head -> the Keras model of a recipe; loading saved models safely."""

from __future__ import annotations

from pathlib import Path

from visiontk.errors import ModelError


def build_backbone(recipe, *, include_top: bool = False, num_classes: int = 1000):
    """The recipe's architecture as a feature extractor (named outputs)."""
    from visiontk.registries import ARCHITECTURES, populate

    populate()
    entry = ARCHITECTURES.entry(recipe.model.backbone.name)
    build = ARCHITECTURES.get(entry.name)
    weights = recipe.model.backbone.weights
    kwargs = dict(recipe.model.backbone.params)
    if entry.meta.get("pretrained"):
        kwargs["weights"] = weights
    try:
        model = build(tuple(recipe.model.input_shape), include_top=include_top,
                      num_classes=num_classes, name="backbone", **kwargs)
    except TypeError as exc:
        raise ModelError(f"model.backbone.params: {exc} (architecture '{entry.name}')") from None
    except ValueError as exc:
        raise ModelError(f"architecture '{entry.name}' cannot be built for input "
                         f"{list(recipe.model.input_shape)}: {str(exc).splitlines()[0]}") from None
    if not entry.meta.get("pretrained") and weights not in ("none", None):
        if weights == "imagenet":
            raise ModelError(f"model.backbone.weights: architecture '{entry.name}' has no ImageNet "
                             f"weights in visiontk; use weights: none, a .weights.h5 file, or a "
                             f"keras.applications backbone (visiontk arch list)")
        load_weights_file(model, weights, "model.backbone.weights")
    return model


def load_weights_file(model, path: str, field: str) -> None:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ModelError(f"{field}: weights file not found: {p}")
    try:
        model.load_weights(str(p))
    except Exception as exc:  # keras raises several kinds for mismatched files
        raise ModelError(f"{field}: {p} does not fit this architecture "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]})") from None


def build_model(recipe, task):
    """The full trainable model: backbone (nested, named 'backbone') + the task's head."""
    backbone = build_backbone(recipe)
    return task.build(backbone, recipe.train.regularization.dropout)


def import_custom_objects() -> None:
    """Import the modules that register visiontk's serialisable layers and losses."""
    import importlib

    for mod in ("visiontk.layers", "visiontk.losses"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise


def load_keras_model(path: str | Path):
    """Load a .keras file with safe_mode on; a clear ModelError when it is missing or corrupt."""
    import keras

    p = Path(path)
    if not p.is_file():
        raise ModelError(f"model file not found: {p}")
    import_custom_objects()
    try:
        return keras.saving.load_model(str(p), compile=False, safe_mode=True)
    except Exception as exc:
        raise ModelError(f"cannot load {p}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]} "
                         f"(the file is damaged or was written by an incompatible version)") from None
