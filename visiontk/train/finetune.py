"""Fine-tuning (seed 002, transfer learning): restore a trained backbone into a new recipe by layer
name (`model.init_from`), freeze it for the first epochs and train it later at a smaller learning
rate (`train.finetune`).

- `init_from`: a run directory (its model.keras; an unfinished run: its best or last checkpoint,
  read through a model rebuilt from its recipe.yaml), a `.keras` file, or a `.weights.h5` file (a
  checkpoint inside a run, or one written from this recipe's backbone or model). Only the nested
  model named "backbone" is restored, layer by layer by name; a layer missing from the source or of
  another shape keeps its fresh initialisation. The report goes to runs/<name>/init_report.json
  and one summary line.
- `freeze: backbone | until_layer NAME | none`, `unfreeze_after_epochs: N`: frozen layers get
  `trainable = False`. Batch-norm layers of the frozen part stay frozen (inference mode: moving
  statistics and scale/offset unchanged) also after unfreezing, as Keras' transfer-learning guide
  recommends: small fine-tuning batches would otherwise overwrite the statistics the backbone was
  trained with. At epoch N a callback unfreezes the rest and retraces the train function
  (`make_train_function(force=True)`), so the change takes effect inside the running `fit`.
- The optimizer is built at compile time over every variable that will ever train (frozen ones
  included), so its slots exist before the unfreeze and a backup taken in either phase restores
  into it (resume after a crash in phase 2 included).
- `backbone_lr_multiplier`: each optimizer's `update_step` receives the learning rate per
  variable; backbone variables get it times the multiplier (a true per-variable rate for SGD, Adam,
  RMSprop, ...; scaling gradients would be a no-op for Adam). Variables are matched by the
  optimizer's own variable key, which MirroredStrategy's per-replica copies share. Weight decay
  keeps the base rate.
"""

from __future__ import annotations

from pathlib import Path

import keras

from visiontk.errors import ModelError, RecipeError
from visiontk.io import write_json
from visiontk.registry import did_you_mean

REPORT = "init_report.json"


def find_backbone(model, required: bool = True):
    """The nested model named "backbone" (depth first), the model itself when it is one, or None."""
    if model.name == "backbone":
        return model
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            if layer.name == "backbone":
                return layer
            inner = find_backbone(layer, required=False)
            if inner is not None:
                return inner
    if required:
        raise ModelError(f"model '{model.name}' has no nested model named 'backbone' to restore or "
                         f"freeze (the task's build must call the backbone as a layer)")
    return None


def _weighted(model) -> list:
    return [layer for layer in model.layers if layer.weights]


def _bn_layers(layers):
    for layer in layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            yield layer
        if hasattr(layer, "layers"):
            yield from _bn_layers(layer.layers)


# ---- init_from --------------------------------------------------------------------------------

def _rebuilt_from_run(run: Path, weights: Path):
    """The training model of the run in `run` (from its recipe.yaml) holding `weights`."""
    from visiontk.data.make import make_source
    from visiontk.errors import VisionTKError
    from visiontk.recipe import load_recipe
    from visiontk.tasks.base import make_task
    from visiontk.train.model import build_model
    from visiontk.model_files import load_weights_file

    try:
        src = load_recipe(run / "recipe.yaml")
        src.model.backbone.weights = "none"          # the checkpoint holds every weight
        model = build_model(src, make_task(src, make_source(src)))
    except VisionTKError as exc:
        raise ModelError(f"model.init_from: cannot rebuild the model of {run} from its recipe.yaml "
                         f"to read {weights.name}: {exc}") from None
    load_weights_file(model, str(weights), "model.init_from")
    return model


def _bare_weights(path: Path, p):
    """A .weights.h5 outside a run: it must fit this recipe's backbone or its whole model."""
    from visiontk.train.model import build_backbone, build_model

    r = p.recipe.model_copy(deep=True)
    r.model.backbone.weights = "none"
    for build in (lambda: build_backbone(r), lambda: build_model(r, p.task)):
        model = build()
        try:
            model.load_weights(str(path))
            return model
        except Exception:  # keras raises several kinds for a file of another structure
            continue
    raise ModelError(f"model.init_from: {path} is a bare weights file that fits neither this recipe's "
                     f"backbone nor its model; restoring by layer name needs the architecture: give "
                     f"the run directory or its model.keras")


def load_source(init_from: str, p):
    """(source model, the file read) for `model.init_from`."""
    from visiontk.model_files import load_keras_model

    path = Path(init_from).expanduser()
    if not path.exists():
        raise ModelError(f"model.init_from: {path} not found; give a run directory (e.g. runs/classify), "
                         f"a .keras or a .weights.h5 file")
    if path.is_dir():
        if (path / "model.keras").is_file():
            return load_keras_model(path / "model.keras"), path / "model.keras"
        for name in ("best", "last"):
            ckpt = path / "checkpoints" / f"{name}.weights.h5"
            if ckpt.is_file() and (path / "recipe.yaml").is_file():
                return _rebuilt_from_run(path, ckpt), ckpt
        raise ModelError(f"model.init_from: {path} holds no model.keras and no checkpoints/*.weights.h5 "
                         f"(not a visiontk run, or it never finished an epoch)")
    if path.name.endswith(".keras"):
        return load_keras_model(path), path
    if path.name.endswith(".weights.h5"):
        run = path.parent.parent
        if path.parent.name == "checkpoints" and (run / "recipe.yaml").is_file():
            return _rebuilt_from_run(run, path), path
        return _bare_weights(path, p), path
    raise ModelError(f"model.init_from: {path} is not a run directory, a .keras or a .weights.h5 file")


def restore_backbone(model, source, source_path, own: tuple[str, ...] = ()) -> dict:
    """Copy the source backbone's weights into `model`'s backbone, layer by layer by name, and into
    each copy of it the task built (a nested model named "*_backbone", e.g. a two-stage localizer's
    "crop_backbone": from the source's model of that name when it has one, else its backbone).
    The nested models named in `own` have an architecture of their own (Task.own_backbones): they
    are restored from a namesake only, else left with the weights they were built with.

    Returns:
        The report: restored / not_restored (name -> why) / unused source layers; "copies" maps
        each copy's name to its own report.

    Example:
        >>> report = restore_backbone(new_model, load_keras_model("runs/classify/model.keras"),
        ...                           "runs/classify/model.keras")  # doctest: +SKIP
        >>> report["restored"], report["backbone_layers"]  # doctest: +SKIP
        (40, 40)
    """
    dst = find_backbone(model)
    src_bb = find_backbone(source, required=False) or source
    report = _restore_into(dst, src_bb, source_path)
    theirs = {m.name: m for m in _copies(source)}
    for copy in _copies(model):        # e.g. a two-stage localizer's crop_backbone
        origin = theirs.get(copy.name, None if copy.name in own else src_bb)
        if origin is None:
            report.setdefault("copies", {})[copy.name] = {
                "source": str(source_path), "restored": 0, "backbone_layers": len(_weighted(copy)),
                "from": None, "kept": "its own architecture (the recipe's own weights for it, "
                                      "if any); the source has no model of its name"}
            continue
        report.setdefault("copies", {})[copy.name] = {
            **_restore_into(copy, origin, source_path), "from": origin.name}
    return report


def _copies(model) -> list:
    """Nested models named "<something>_backbone": copies of the backbone a task built for a
    second input (restored from the same source)."""
    return [layer for layer in model.layers
            if isinstance(layer, keras.Model) and layer.name.endswith("_backbone")]


def _restore_into(dst, src_bb, source_path) -> dict:
    src = {layer.name: layer for layer in _weighted(src_bb)}
    restored, not_restored = [], {}
    for layer in _weighted(dst):
        other = src.get(layer.name)
        if other is None:
            not_restored[layer.name] = "missing in the source"
            continue
        mine, theirs = layer.get_weights(), other.get_weights()
        shapes = [tuple(w.shape) for w in mine], [tuple(w.shape) for w in theirs]
        if shapes[0] != shapes[1]:
            diff = next(((a, b) for a, b in zip(*shapes) if a != b), (len(mine), len(theirs)))
            not_restored[layer.name] = f"shape mismatch: source {diff[1]}, here {diff[0]}"
            continue
        layer.set_weights(theirs)
        restored.append(layer.name)
    total = len(restored) + len(not_restored)
    if not restored:
        raise ModelError(f"model.init_from: nothing restorable from {source_path}: 0 of {total} backbone "
                         f"layers match by name and shape (its backbone has "
                         f"{', '.join(list(src)[:4]) or 'no weighted layers'}...; this one "
                         f"{', '.join(l.name for l in _weighted(dst)[:4])}...); use a run of the same "
                         f"model.backbone.name")
    return {"source": str(source_path), "restored": len(restored), "backbone_layers": total,
            "restored_layers": restored, "not_restored": not_restored,
            "unused_source_layers": sorted(set(src) - {l.name for l in _weighted(dst)})}


def summary_line(report: dict) -> str:
    """One line for the console: how many layers were restored, which not and why."""
    line = (f"visiontk: init_from {report['source']}: {report['restored']} of "
            f"{report['backbone_layers']} backbone layers restored")
    if report["not_restored"]:
        items = [f"{k} ({v})" for k, v in report["not_restored"].items()]
        more = f", ... ({len(items) - 3} more)" if len(items) > 3 else ""
        line += "; not restored: " + ", ".join(items[:3]) + more
    for name, rep in report.get("copies", {}).items():
        line += (f"; {name}: {rep['restored']} of {rep['backbone_layers']}" if rep["from"] else
                 f"; {name}: kept (its own architecture)")
    return line + f" (details: {REPORT})"


# ---- freezing and the learning-rate multiplier -----------------------------------------------

def parse_freeze(text: str) -> tuple[str, str | None]:
    """`train.finetune.freeze` -> (mode, layer name or None).

    Example:
        >>> parse_freeze("until_layer conv3_block1_out")
        ('until_layer', 'conv3_block1_out')
    """
    parts = text.split()
    if text in ("none", "backbone"):
        return text, None
    if len(parts) == 2 and parts[0] == "until_layer":
        return "until_layer", parts[1]
    raise RecipeError(f"train.finetune.freeze: must be 'none', 'backbone' or 'until_layer NAME', "
                      f"got {text!r}")


class Finetuner:
    """The fine-tuning state of one prepared run (see the module docstring).

    Example:
        >>> ft = Finetuner(model, recipe)  # doctest: +SKIP
        >>> ft.apply_phase(0); ft.frozen  # doctest: +SKIP
        True
    """

    def __init__(self, model, recipe):
        from visiontk.recipe.schema import Finetune

        self.model = model
        self.backbone = find_backbone(model)
        cfg = recipe.train.finetune or Finetune()
        self.cfg = cfg
        self.mode, until = parse_freeze(cfg.freeze)
        layers = [layer for layer in self.backbone.layers if not isinstance(layer, keras.layers.InputLayer)]
        if self.mode == "backbone":
            self.part = layers
        elif self.mode == "until_layer":
            names = [layer.name for layer in layers]
            if until not in names:
                raise ModelError(f"train.finetune.freeze: backbone has no layer '{until}'"
                                 f"{did_you_mean(until, names)}; its layers: {', '.join(names[:6])}, ... "
                                 f"(`visiontk train RECIPE --dry-run` lists them)")
            self.part = layers[:names.index(until) + 1]
        else:
            self.part = []
        self.frozen: bool | None = None            # None: no phase applied yet
        self.report: dict | None = None
        self.echo = print

    def frozen_at(self, epoch: int) -> bool:
        after = self.cfg.unfreeze_after_epochs
        return bool(self.part) and (after is None or epoch < after)

    def _set(self, frozen: bool) -> None:
        for layer in self.part:
            layer.trainable = not frozen
        for bn in _bn_layers(self.part):            # inference mode in both phases
            bn.trainable = False

    def apply_phase(self, epoch: int) -> bool:
        """Freeze or unfreeze for `epoch`; True when the trainable set changed."""
        want = self.frozen_at(epoch)
        if want == self.frozen or not self.part:
            return False
        self._set(want)
        self.frozen = want
        return True

    def eventually_trainable(self) -> list:
        """Every variable that trains in some phase (what the optimizer is built over)."""
        self._set(False)
        variables = list(self.model.trainable_variables)
        self._set(bool(self.frozen))
        return variables

    def wrap_optimizer(self, optimizer) -> None:
        """Backbone variables get learning_rate * backbone_lr_multiplier in every update."""
        mult = float(self.cfg.backbone_lr_multiplier)
        if mult == 1.0:
            return
        keys = {optimizer._var_key(v) for v in self.backbone.weights}
        base = optimizer.update_step

        def update_step(gradient, variable, learning_rate):
            if optimizer._var_key(variable) in keys:
                learning_rate = learning_rate * mult
            return base(gradient, variable, learning_rate)

        optimizer.update_step = update_step

    def build_optimizer(self, optimizer) -> None:
        """Create the optimizer's slots for both phases now (before fit builds it on phase 1 only)."""
        if self.cfg.unfreeze_after_epochs is not None and self.part:
            optimizer.build(self.eventually_trainable())

    def start(self, run, echo) -> None:
        """Write init_report.json into the run and print the summary lines."""
        self.echo = echo
        if self.report is not None:
            write_json(run / REPORT, {**self.report, "finetune": self.cfg.model_dump()})
            echo(summary_line(self.report))
        if self.part:
            n, after = sum(1 for layer in self.part if layer.weights), self.cfg.unfreeze_after_epochs
            when = "for the whole run" if after is None else f"for {after} epoch(s), then trained"
            echo(f"visiontk: fine-tuning: {n} backbone layer(s) with weights frozen {when}; batch norm "
                 f"of that part stays in inference mode; backbone lr x{self.cfg.backbone_lr_multiplier:g}")

    def callback(self):
        return FinetuneSchedule(self)


class FinetuneSchedule(keras.callbacks.Callback):
    """Applies the phase at each epoch start; retraces the train function when it changes."""

    def __init__(self, finetuner: Finetuner):
        super().__init__()
        self.ft = finetuner

    def on_epoch_begin(self, epoch, logs=None):
        if self.ft.apply_phase(epoch):
            self.model.make_train_function(force=True)
            state = "frozen" if self.ft.frozen else "unfrozen (batch norm stays in inference mode)"
            self.ft.echo(f"visiontk: epoch {epoch + 1}: backbone {state}")


def setup(p):
    """Restore (model.init_from) and freeze (train.finetune) a freshly built prepared model.

    Example:
        >>> p = prepare(load_recipe("recipes/finetune.yaml"))  # doctest: +SKIP
        >>> p.finetune.report["restored"]  # doctest: +SKIP
        40
    """
    r = p.recipe
    ft = Finetuner(p.model, r)
    if r.model.init_from:
        source, path = load_source(r.model.init_from, p)
        ft.report = restore_backbone(p.model, source, path, own=p.task.own_backbones())
        del source
    if ft.part and r.train.finetune.unfreeze_after_epochs is not None and p.multi_worker:
        raise RecipeError("train.finetune.unfreeze_after_epochs: not supported with the multi_worker "
                          "strategy (its loop traces the train step once); train the frozen phase, "
                          "then a second recipe with model.init_from and freeze: none")
    ft.apply_phase(0)
    return ft
