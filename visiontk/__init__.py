"""visiontk: the classic CNNs on Keras 3, task heads, YAML recipes, verified exports, OpenCV demos.

The public API (imports TensorFlow only when a function needs it):

    >>> import visiontk
    >>> recipe = visiontk.load_recipe("recipes/classify.yaml", ["train.epochs=1"])  # doctest: +SKIP
    >>> result = visiontk.train(recipe)                                              # doctest: +SKIP
    >>> visiontk.evaluate(result.run_dir, "val")                                     # doctest: +SKIP
    >>> visiontk.predict(result.run_dir, ["image.png"])                              # doctest: +SKIP
"""

from visiontk.version import __version__

__all__ = ["__version__", "build_model", "load_recipe", "train", "evaluate", "predict", "Predictor",
           "export"]


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


def predict(path, images, *, backend="auto", out_dir=None):
    """Predictions (dicts) for image files; annotated copies in `out_dir` when given."""
    from visiontk.infer.predictor import predict_files

    return predict_files(path, images, backend=backend, out_dir=out_dir)


def Predictor(path, backend="auto"):  # noqa: N802  (a factory that reads like the class)
    """A Predictor for a run or export folder (see visiontk.infer.predictor.Predictor)."""
    from visiontk.infer.predictor import Predictor as _Predictor

    return _Predictor(path, backend)


def export(run_dir, **kwargs):
    """Export a run to SavedModel / ONNX / TFLite with parity checks (visiontk.export)."""
    from visiontk.export import export_run

    return export_run(run_dir, **kwargs)


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
