"""Classification: softmax head on any backbone; top-1/top-5 accuracy; confusion matrix.

Auxiliary classifiers (GoogLeNet, seed 001): `model.head.aux_weight: 0.3` on a backbone whose registry
entry declares meta `aux` (outputs: {aux output: feature map it reads}, head: the branch builder) adds
those branches to the training model. It then returns {"probs", "aux_4a", "aux_4d"}; the loss is the
main cross-entropy + aux_weight x each auxiliary one; the main output's metrics keep their plain
names (accuracy, val_accuracy) for checkpoints and early stopping. `inference_model` keeps "probs"
only, so model.keras, exports, evaluate and predict see one output and no auxiliary weights.
"""

from __future__ import annotations

from visiontk.errors import RecipeError
from visiontk.runtime import classification as runtime
from visiontk.catalog import ARCHITECTURES, TASKS, populate
from visiontk.tasks.base import EvalContext, Evaluation, Task, pick_feature
from visiontk.tasks.classification.config import ClassificationHead

MAIN = "probs"      # the main output's name (and its layer's)


@TASKS.register("classification", aliases=("classify",))
class Classification(Task):
    name = "classification"
    Config = ClassificationHead
    needs = ("label",)
    monitor = ("val_accuracy", "max")
    metric_modes = {"accuracy": "max", "top5": "max"}
    summary_metrics = ("accuracy",)
    label_smoothing = True
    runtime = runtime

    def __init__(self, cfg, info, recipe=None):
        super().__init__(cfg, info, recipe)
        self.aux = self._aux_spec()

    def _aux_spec(self) -> dict:
        """The backbone's meta `aux` when model.head.aux_weight asks for auxiliary heads, else {}."""
        if not self.cfg.aux_weight:
            return {}
        if self.recipe is None:
            raise RecipeError("model.head.aux_weight needs a recipe (its model.backbone names the "
                              "architecture whose auxiliary classifiers are added)")
        populate()
        entry = ARCHITECTURES.entry(self.recipe.model.backbone.name)
        if not entry.meta.get("aux"):
            having = [n for n in ARCHITECTURES.names() if ARCHITECTURES.entry(n).meta.get("aux")]
            raise RecipeError(f"model.head.aux_weight: architecture '{entry.name}' has no auxiliary "
                              f"classifiers (those that do: {', '.join(having) or 'none'}); remove "
                              f"aux_weight or choose one of them")
        return entry.meta["aux"]

    def build(self, backbone, dropout=None):
        import keras
        from keras import layers

        inputs = keras.Input(self.info.input_shape, name="image")
        feats = backbone(inputs)
        x = pick_feature(feats, self.recipe.model.feature if self.recipe else None)
        if len(x.shape) == 4:
            x = layers.GlobalAveragePooling2D(name="head_pool")(x)
        if self.cfg.hidden:
            x = layers.Dense(self.cfg.hidden, activation="relu", name="head_hidden")(x)
        if dropout:
            x = layers.Dropout(dropout, name="head_dropout")(x)
        out = layers.Dense(self.info.num_classes, activation="softmax", dtype="float32",
                           name=MAIN)(x)
        if not self.aux:
            return keras.Model(inputs, out, name="classifier")
        outputs = {MAIN: out}
        for key, feature in self.aux["outputs"].items():
            if feature not in feats:
                raise RecipeError(f"model.head.aux_weight: the backbone has no feature '{feature}' "
                                  f"for auxiliary head '{key}' (it has: {', '.join(feats)})")
            outputs[key] = self.aux["head"](feats[feature], self.info.num_classes, name=key)
        return keras.Model(inputs, outputs, name="classifier")

    def loss_weights(self) -> dict:
        """{output: weight} of the training loss (1 for the main output, aux_weight for each aux)."""
        return {MAIN: 1.0, **{key: float(self.cfg.aux_weight) for key in self.aux.get("outputs", {})}}

    def loss(self):
        import keras

        smoothing = self.recipe.train.regularization.label_smoothing if self.recipe else 0.0
        main = keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
        if not self.aux:
            return main
        # the weights live in the loss functions: compile() is shared by every task
        return {key: main if key == MAIN else _weighted_crossentropy(weight, smoothing)
                for key, weight in self.loss_weights().items()}

    def metrics(self):
        import keras

        out = [keras.metrics.CategoricalAccuracy(name="accuracy")]
        if self.info.num_classes > 5:
            out.append(keras.metrics.TopKCategoricalAccuracy(5, name="top5"))
        return {MAIN: out} if self.aux else out

    def callbacks(self, val_data, run_dir):
        return [main_output_logs()] if self.aux else []

    def inference_model(self, model):
        """The main output only: auxiliary branches (and their weights) are not in the result."""
        import keras

        out = model.output
        if isinstance(out, dict) and MAIN in out and len(out) > 1:
            return keras.Model(model.inputs, out[MAIN], name=model.name)
        return model

    encodes_batches = True

    def encode(self, image, annotation):
        import tensorflow as tf

        y = tf.one_hot(annotation["label"], self.info.num_classes)
        if self.aux:
            return image, {key: y for key in self.loss_weights()}
        return image, y

    def meta(self):
        return {"top_k": min(self.cfg.top_k, self.info.num_classes)}

    def evaluate(self, predict_fn, batches, out_dir=None, context: EvalContext = EvalContext()):
        from visiontk.tasks.classification.evaluation import classification_report

        return Evaluation(classification_report(predict_fn, batches, self.info.class_names, out_dir))


def _weighted_crossentropy(weight: float, smoothing: float):
    """weight x categorical cross-entropy, per example (Keras averages it over the batch)."""
    import keras

    def weighted_crossentropy(y_true, y_pred):
        return weight * keras.losses.categorical_crossentropy(y_true, y_pred,
                                                              label_smoothing=smoothing)

    return weighted_crossentropy


def main_output_logs():
    """A Keras callback: with several outputs Keras logs the main one's metrics as `probs_accuracy`;
    it renames them back to `accuracy` / `val_accuracy` (what monitors, history and curves use).

    Example:
        >>> logs = {"val_probs_accuracy": 0.5}
        >>> main_output_logs().on_epoch_end(0, logs); logs  # doctest: +SKIP
        {'val_accuracy': 0.5}
    """
    import keras

    class _MainOutputLogs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            for key in [k for k in (logs or {}) if f"{MAIN}_" in k and not k.endswith("_loss")]:
                logs[key.replace(f"{MAIN}_", "", 1)] = logs.pop(key)

    return _MainOutputLogs()
