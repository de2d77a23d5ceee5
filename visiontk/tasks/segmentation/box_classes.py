"""The segmentation task's optional box naming (`model.head.detector`): the segmenter finds the
objects' pixels, a detector's boxes name them.

The segmenter trains as always (its loss, its `val_mean_iou`); the model it leaves behind
(model.keras, the exports) adds, in the graph: the image resized to the detector's input, the
detector's boxes as anchor-free rows (a grid detector's every box through `GridCandidates` and
`CandidateRows`; a multi-scale or two-stage detector's rows as they are), and `NameByBoxes`, which
gives each pixel covered by boxes the boxes' summed class scores as its class distribution. Its
output is the segmenter's (N, h, w, 1 + C) probabilities, so evaluation, predict, the demos and
every export read it unchanged.

Measured on fashion-scenes (docs/real_data.md): the U-Net finds the garments' pixels (with their
true classes its masks score 0.86 mean IoU) and names them badly (0.43); the two-stage detector
names garments far better.
"""

from __future__ import annotations

from pathlib import Path

from visiontk.errors import ModelError, RecipeError

FIELD = "model.head.detector"


def _run_meta(run: Path | None) -> dict:
    """The detector's run meta.json as visiontk reads it ({} for a bare .keras file or none)."""
    if run is None:
        return {}
    from visiontk.errors import VisionTKError
    from visiontk.run import RunDir

    try:
        return RunDir(run).meta()
    except (VisionTKError, OSError):
        return {}


def load_detector(cfg, class_names, channels: int):
    """The detector (frozen) as a model whose output is anchor-free rows (N, K, 4 + C); errors name
    the recipe field."""
    from visiontk.model_files import load_keras_model, run_or_keras_file

    path, run = run_or_keras_file(cfg.model, f"{FIELD}.model", "train the detector first, e.g. "
                                  "`visiontk train recipes/detect_fashion.yaml`")
    meta = _run_meta(run)
    if meta.get("task", "detection") != "detection":
        raise RecipeError(f"{FIELD}.model: {run} is a {meta['task']} run, not a detection run; give "
                          f"a detection run folder or its model.keras")
    theirs = meta.get("class_names")
    if theirs is not None and list(theirs) != list(class_names):
        raise RecipeError(f"{FIELD}.model: {path} names the classes {list(theirs)}, the segmentation "
                          f"data names {list(class_names)}; train the detector on the same classes")
    try:
        model = load_keras_model(path)
    except ModelError as exc:
        raise RecipeError(f"{FIELD}.model: {exc}") from None
    shape, out, c = tuple(model.input_shape[1:]), model.output_shape, len(class_names)
    if not isinstance(out, tuple) or len(shape) != 3 or shape[2] != channels:
        raise RecipeError(f"{FIELD}.model: {path} takes inputs of shape {shape} and outputs {out}; "
                          f"box naming needs one image input with the segmenter's {channels} "
                          f"channel(s) and detection outputs")
    model.trainable = False
    if len(out) == 3 and out[-1] == 4 + c:                      # anchor-free rows already
        return model
    if len(out) == 4 and out[1] == out[2] and (out[-1] - c) > 0 and (out[-1] - c) % 5 == 0:
        import keras

        from visiontk.tasks.detection.layers import CandidateRows, GridCandidates

        s, b = out[1], (out[-1] - c) // 5                       # a grid: S x S x (5 B + C)
        cand = GridCandidates(s, b, s * s * b, name="detector_boxes")(model.output)
        return keras.Model(model.input, CandidateRows(name="detector_rows")(cand), name="detector")
    raise RecipeError(f"{FIELD}.model: {path} outputs {out}, neither a grid detector's (N, S, S, "
                      f"5 B + {c}) nor anchor-free rows (N, K, 4 + {c}) for the {c} classes")


def named_by_boxes(segmenter, detector, *, min_score: float, window=None):
    """segmenter ((N, h, w, 1 + C) probabilities) + detector rows -> one model: the segmenter's
    probabilities with the covered object pixels named by the boxes (NameByBoxes)."""
    import keras

    from visiontk.layers import Resize
    from visiontk.tasks.segmentation.layers import NameByBoxes

    image = segmenter.input
    size = tuple(detector.input_shape[1:3])
    seen = image if tuple(image.shape[1:3]) == size else \
        Resize(*size, interpolation="bilinear", name="detector_input")(image)
    rows = detector(seen)
    probs = NameByBoxes(min_score, window, name="named_probs")([segmenter.output, rows])
    return keras.Model(image, probs, name="segmenter_named_by_boxes")
