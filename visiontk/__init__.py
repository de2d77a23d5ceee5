"""visiontk: the classic CNNs on Keras 3, task heads, YAML recipes, verified exports, OpenCV demos.

The public API (imports TensorFlow only when a function needs it):

    >>> import visiontk
    >>> recipe = visiontk.load_recipe("recipes/classify.yaml", ["train.epochs=1"])  # doctest: +SKIP
    >>> result = visiontk.train(recipe)                                              # doctest: +SKIP
    >>> visiontk.evaluate(result.run_dir, "val")                                     # doctest: +SKIP
    >>> visiontk.load(result.run_dir).predict("image.png")                           # doctest: +SKIP
"""

from typing import TYPE_CHECKING

from visiontk.version import __version__

__all__ = ["__version__", "build_model", "load_recipe", "train", "evaluate", "load", "predict",
           "Predictor", "StreamResult", "export"]

if TYPE_CHECKING:     # for type checkers and the API reference; at run time __getattr__ imports them
    from visiontk.infer.predictor import Predictor, StreamResult


def load_recipe(path=None, overrides=(), *, data=None, check_paths=None):
    """Read and validate a recipe (see visiontk.recipe.load_recipe)."""
    from visiontk.recipe import load_recipe as _load

    return _load(path, overrides, data=data, check_paths=check_paths)


def build_model(recipe):
    """The compiled-to-be Keras model of a recipe (backbone + task head), without training."""
    from visiontk.train.session import prepare

    return prepare(recipe).model


def train(recipe, *, force=False, echo=print):
    """Train a recipe (a Recipe or a path) into its run directory and return a TrainResult.

    An interrupted run of the same recipe is resumed; a finished run is kept and the new one goes to
    the next free numbered folder (runs/NAME-2, said through `echo`; `result.run_dir` is where it
    went); `force=True` retrains in the recipe's own folder, replacing only a visiontk run there.
    What cannot be done (a folder that is not a run, a diverged loss, a full disk) raises a kind of
    visiontk.errors.VisionTKError with a message that says what to do.
    """
    from visiontk.train.loop import train as _train

    if not hasattr(recipe, "model_dump"):
        recipe = load_recipe(recipe)
    return _train(recipe, force=force, echo=echo)


def evaluate(run_dir, split="val", overrides=()):
    """Metrics of a finished run on a split, merged into metrics.json: the run's own figure for the
    split, or with overrides (other data) an entry under "other_data" that leaves it as it is."""
    from visiontk.evaluate import evaluate as _evaluate

    return _evaluate(run_dir, split, overrides)


def load(path, backend="auto"):
    """Load a trained model for prediction: a run folder, an export folder, or a model file in one.

    The model comes with everything it was trained with (input size, preprocessing, class names,
    decode settings), read from the run's meta.json or the export's metadata.json; a model file is
    read with the metadata of the folder it sits in. Only the backend's own runtime is imported:
    loading an .onnx file or an export folder with ONNX Runtime does not import TensorFlow.

    Args:
        path: a run folder (runs/NAME: its model.keras), an export folder (export/NAME, written by
            `visiontk export`), or a model file in one: a `.keras` file in a run folder, a
            `model.onnx` or `model.tflite` in an export folder (or its `saved_model/` folder).
        backend: keras | saved_model | onnx | tflite, or auto: for a folder ONNX Runtime when the
            export has model.onnx, else the first model found (keras for a run); for a model file
            the backend of its suffix.

    Returns:
        A visiontk.Predictor: `.predict(images)` (paths or BGR uint8 arrays as OpenCV reads them;
        a list of typed predictions, one per image, with `.to_dict()`), `.stream(source)` (video,
        camera, folder), `.draw(image, prediction)` and `.metadata`.

    Raises:
        RunError: the path is missing, or a folder that is neither a run nor an export.
        ModelError: an unknown or damaged model file, a model file without the metadata it needs
            beside it (export the run with `visiontk export RUN_DIR`), or a backend that cannot
            run it.

    Example:
        >>> import visiontk
        >>> predictor = visiontk.load("runs/classify")              # a run: its model.keras
        >>> predictor.backend, predictor.metadata["task"]
        ('keras', 'classification')
        >>> [pred] = predictor.predict("images/cat.png")             # one prediction per image
        >>> pred.name in predictor.metadata["class_names"], 0.0 <= pred.score <= 1.0
        (True, True)
        >>> sorted(pred.to_dict())                                   # what `visiontk predict` prints
        ['label', 'label_id', 'score', 'task', 'top']
        >>> visiontk.load("export/classify").backend                # an export: ONNX Runtime
        'onnx'
        >>> visiontk.load("export/classify/model.tflite").backend   # a file: backend by suffix
        'tflite'
    """
    from visiontk.infer.predictor import Predictor as _Predictor

    return _Predictor(path, backend)


def predict(path, images, *, backend="auto", out_dir=None):
    """Predictions (dicts) for image files; annotated copies in `out_dir` when given (what
    `visiontk predict` does; `load(path).predict(...)` gives typed predictions, takes arrays too)."""
    from visiontk.infer.predictor import predict_files

    return predict_files(path, images, backend=backend, out_dir=out_dir)


def export(run_dir, **kwargs):
    """Export a run to SavedModel / ONNX / TFLite with parity checks (visiontk.export)."""
    from visiontk.export import export_run

    return export_run(run_dir, **kwargs)


def __getattr__(name):
    """`visiontk.Predictor` and `visiontk.StreamResult`, imported on first use (they need OpenCV)."""
    if name in ("Predictor", "StreamResult"):
        from visiontk.infer import predictor

        globals()[name] = value = getattr(predictor, name)
        return value
    raise AttributeError(f"module 'visiontk' has no attribute {name!r}")


# The API functions `train`, `evaluate` and `export` share their names with the subpackages
# visiontk/train/, visiontk/evaluate.py and visiontk/export/. Importing a submodule makes Python
# set it as an attribute of this package, which would replace the function; keep the functions.
import sys as _sys
import types as _types


class _Package(_types.ModuleType):
    def __setattr__(self, name, value):
        if name in ("train", "evaluate", "export") and isinstance(value, _types.ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
