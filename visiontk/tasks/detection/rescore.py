"""The grid detector's optional second stage (`model.head.crop_classifier`): the detector finds the
objects, a classifier trained on crops of objects names them.

The grid detector is trained as always; the model it leaves behind (model.keras, the exports) adds,
in the graph: the `top_k` most confident boxes of each image (`GridCandidates`), the square crop
around each (`visiontk.layers.BoxCrop`, the cut `data.crops` trains the classifier on), the
classifier's class probabilities for each crop, and each box's class scores from both opinions
(`RescoreRows`: confidence x the weighted geometric mean of the two distributions). Its output is
the anchor-free row layout (N, K, 4 + C) that `visiontk.runtime.detection` decodes, so
evaluation, predict, the demos and every export read it as they read the multi-scale head's.

Measured on fashion-scenes (docs/real_data.md): the grid detector finds the garments (AR50 0.91)
and confuses their classes more than a classifier reading each garment at one scale does.
"""

from __future__ import annotations

from pathlib import Path

from visiontk.errors import ModelError, RecipeError

FIELD = "model.head.crop_classifier"


def classifier_file(path: str) -> tuple[Path, Path | None]:
    """(the .keras file, its run folder or None) for `crop_classifier.model`: a classification
    run's folder (its model.keras) or a .keras file."""
    from visiontk.model_files import run_or_keras_file

    return run_or_keras_file(path, f"{FIELD}.model", "train the crop classifier first, e.g. "
                             "`visiontk train recipes/detect_fashion_crops.yaml`")


def _run_settings(run: Path | None) -> tuple[list | None, float | None]:
    """(class names, data.crops.margin) of the classifier's run (None where it has none): its
    meta.json and recipe.yaml, read as visiontk reads a run's."""
    if run is None:
        return None, None
    from visiontk.errors import VisionTKError
    from visiontk.recipe import load_recipe
    from visiontk.run import RunDir

    try:
        names = RunDir(run).meta().get("class_names")
        crops = load_recipe(run / "recipe.yaml", check_paths=False).data.crops
    except (VisionTKError, OSError):
        return None, None
    return names, (crops.margin if crops is not None else None)


def load_classifier(cfg, class_names, channels: int):
    """The classifier model (frozen) and the crop margin; errors name the recipe field."""
    from visiontk.model_files import load_keras_model

    path, run = classifier_file(cfg.model)
    theirs, trained_margin = _run_settings(run)
    if theirs is not None and list(theirs) != list(class_names):
        raise RecipeError(f"{FIELD}.model: {path} names the classes {theirs}, the detector's data "
                          f"names {list(class_names)}; train the classifier on crops of the same "
                          f"dataset (data.crops)")
    try:
        model = load_keras_model(path)
    except ModelError as exc:
        raise RecipeError(f"{FIELD}.model: {exc}") from None
    shape = tuple(model.input_shape[1:])
    out = model.output_shape
    if len(shape) != 3 or shape[0] != shape[1] or shape[2] != channels:
        raise RecipeError(f"{FIELD}.model: {path} takes inputs of shape {shape}; the crop stage "
                          f"needs a square image with the detector's {channels} channel(s)")
    if not isinstance(out, tuple) or out[-1] != len(class_names):
        raise RecipeError(f"{FIELD}.model: {path} outputs {out}, not one probability for each of "
                          f"the detector's {len(class_names)} classes")
    model.trainable = False
    from visiontk.recipe.schema import CropsCfg

    margin = next(m for m in (cfg.margin, trained_margin, CropsCfg().margin) if m is not None)
    return model, margin


def two_stage(detector, classifier, *, grid: int, boxes_per_cell: int, top_k: int, weight: float,
              margin: float, flip: bool = False):
    """detector (grid outputs) + classifier -> one model with anchor-free rows (N, K, 4 + C).
    `flip`: the classifier's probabilities averaged over each crop and its mirror image."""
    import keras

    from visiontk.layers import BoxCrop
    from visiontk.tasks.detection.layers import (FoldCandidates, GridCandidates, MirrorImages,
                                                 RescoreRows)

    size = classifier.input_shape[1]
    cand = GridCandidates(grid, boxes_per_cell, top_k, name="candidates")(detector.output)
    k = cand.shape[1]
    crops = BoxCrop(size, margin, name="candidate_crops")([detector.input, cand])   # its first 4
    crops = FoldCandidates(name="crops_as_batch")(crops)
    probs = classifier(crops)
    if flip:
        mirrored = classifier(MirrorImages(name="crops_mirrored")(crops))
        probs = keras.layers.Average(name="crop_probs_both", dtype="float32")([probs, mirrored])
    probs = FoldCandidates(unfold=k, name="crop_probs")(probs)
    rows = RescoreRows(weight, name="rows")([cand, probs])
    return keras.Model(detector.input, rows, name="two_stage_detector")
