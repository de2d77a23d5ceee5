"""load_recipe: YAML file + CLI overrides -> a validated Recipe, or one RecipeError line."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Iterable

from pydantic import BaseModel, ValidationError

from visiontk.errors import VisionTKError
from visiontk.recipe.errors import raise_validation
from visiontk.recipe.lines import Where, apply_override, parse_override, parse_yaml, read_recipe_text
from visiontk.recipe.schema import Recipe
from visiontk.recipe.values import check_values
from visiontk.registry import did_you_mean

# builder arguments a recipe may not set through backbone.params (the loop sets them)
_RESERVED_BUILDER_ARGS = {"input_shape", "include_top", "num_classes", "name", "weights"}


def load_recipe(path: str | Path | None = None, overrides: Iterable[str] = (), *,
                data: dict | None = None, check_paths: bool | None = None) -> Recipe:
    """Read, override and validate a recipe.

    Args:
        path: the YAML file (or None when `data` is given).
        overrides: `key.sub=value` strings (the value is YAML), applied in order.
        data: a recipe as a dict (Python API).
        check_paths: refuse a `model.init_from` that does not exist. By default for a recipe file,
            except in the recipe.yaml of a run (unless an override sets it): there it records where
            the backbone came from, and that source may be gone (or relative to another working
            directory) since.

    Example:
        >>> r = load_recipe("recipes/classify.yaml", ["train.epochs=1"])  # doctest: +SKIP
        >>> r.train.epochs
        1
    """
    if data is None:
        text = read_recipe_text(path)
        raw, lines = parse_yaml(text, str(path))
    else:
        raw, lines = data, {}
    where = Where(str(path) if path is not None else None, lines)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise where.error((), f"the recipe must be a mapping of sections (task, model, data, ...), "
                              f"got {type(raw).__name__}")
    check_values(raw, where)
    raw = unshared(raw)          # aliases (within the budget) become copies: overrides change one place
    for text in overrides:
        keys, value = parse_override(text)
        where.overrides[keys] = text
        check_values(value, where, keys)
        apply_override(raw, keys, value, text)
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        raise_validation(exc, Recipe, where)
    if recipe.name is None:
        stem = Path(path).stem if path is not None else ""
        recipe.name = stem if stem.strip(". ") else "run"      # `..yaml` must not make runs/. the run
    if recipe.output is None:
        recipe.output = str(Path("runs") / recipe.name)
    check_components(recipe, where)
    if check_paths is None:           # a file, unless a run's own recipe (then only what overrides set)
        check_paths = path is not None and (not _is_run_recipe(Path(path))
                                            or ("model", "init_from") in where.overrides)
    if check_paths:
        check_files(recipe, where)
    return recipe


def unshared(value):
    """A copy of the dicts and lists of `value` in which no two places share one object."""
    if isinstance(value, dict):
        return {k: unshared(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unshared(v) for v in value]
    return value


def _is_run_recipe(path: Path) -> bool:
    return path.name == "recipe.yaml" and (path.parent / "meta.json").is_file()


def check_files(recipe: Recipe, where: Where) -> None:
    """Paths the recipe reads from before any data: `model.init_from`, the weights file of a
    two-stage localizer's crop stage (`model.head.crop_backbone.weights`), a detector's crop
    classifier (`model.head.crop_classifier.model`) and a segmenter's box namer
    (`model.head.detector.model`)."""
    init_from = recipe.model.init_from
    if init_from is not None:
        try:
            found = Path(init_from).expanduser().exists()
        except OSError as exc:                              # e.g. a name too long for the filesystem
            raise where.error(("model", "init_from"), f"cannot look for {init_from!r}: {exc.strerror}") \
                from None
        if not found:
            raise where.error(("model", "init_from"),
                              f"{init_from} not found{_relative(init_from)}; train that run first, or give an existing "
                              f"run folder, .keras or .weights.h5 file, or remove the key "
                              f"(model.init_from=null) to train from scratch")
    weights = getattr(getattr(recipe.model.head, "crop_backbone", None), "weights", None)
    if weights not in (None, "none", "imagenet") and not Path(weights).expanduser().is_file():
        raise where.error(("model", "head", "crop_backbone", "weights"),
                          f"{weights} not found{_relative(weights)}; train the run that writes it "
                          f"first (a run's backbone.weights.h5), or use weights: none")
    for key, needs in (("crop_classifier", "the crop classifier first (a classification recipe with "
                                           "data.crops, e.g. recipes/detect_fashion_crops.yaml)"),
                       ("detector", "the detector first (a detection recipe on the same classes, "
                                    "e.g. recipes/detect_fashion.yaml)")):
        model = getattr(getattr(recipe.model.head, key, None), "model", None)
        if model is not None and not Path(model).expanduser().exists():
            raise where.error(("model", "head", key, "model"),
                              f"{model} not found{_relative(model)}; train {needs}, or remove the key")


def _relative(path: str) -> str:
    """How a relative path in an error is read: from the working directory."""
    return "" if Path(path).expanduser().is_absolute() else " (relative to the working directory)"


def _check_params(given: dict, allowed: Iterable[str], loc: tuple, what: str, where: Where):
    allowed = list(allowed)
    for key in given:
        if key not in allowed:
            takes = ", ".join(allowed) if allowed else "none"
            raise where.error(loc + (key,), f"does not apply to {what}{did_you_mean(key, allowed)}; "
                                            f"it takes: {takes}")


def _validate_section(cfg_cls: type[BaseModel], raw, loc: tuple, where: Where) -> BaseModel:
    if isinstance(raw, BaseModel):
        raw = raw.model_dump()
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise where.error(loc, f"must be a mapping (key: value), got {raw!r}")
    # a section with variants (e.g. detection's `model.head.type`) names the class for this mapping
    cfg_cls = cfg_cls.variant(raw) if hasattr(cfg_cls, "variant") else cfg_cls
    try:
        return cfg_cls.model_validate(raw)
    except ValidationError as exc:
        raise_validation(exc, cfg_cls, where, prefix=loc)


def check_components(recipe: Recipe, where: Where) -> None:
    """Second pass: names against the registries, task head and source params against their Config."""
    if recipe.data.crops is not None and recipe.task not in ("classification", "classify"):
        raise where.error(("data", "crops"),
                          f"data.crops makes one classification image of each object box; task "
                          f"'{recipe.task}' cannot train on it: use task: classification, or remove "
                          f"data.crops")
    from visiontk.catalog import ARCHITECTURES, OPTIMIZERS, SCHEDULES, SOURCES, TASKS, populate

    populate()

    def lookup(registry, name, loc):
        try:
            return registry.entry(name)
        except VisionTKError as exc:
            raise where.error(loc, str(exc)) from None

    task_cls = lookup(TASKS, recipe.task, ("task",)).obj
    recipe.model.head = _validate_section(task_cls.Config, recipe.model.head, ("model", "head"), where)

    arch = lookup(ARCHITECTURES, recipe.model.backbone.name, ("model", "backbone", "name"))
    for key in recipe.model.backbone.params:
        if key in _RESERVED_BUILDER_ARGS:
            raise where.error(("model", "backbone", "params", key),
                              "is set by visiontk from the recipe (model.input_shape, the task head, "
                              "model.backbone.weights); remove it")
    sig = inspect.signature(arch.obj)
    if not any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        accepted = [n for n in sig.parameters if n not in _RESERVED_BUILDER_ARGS and n not in arch.variant]
        _check_params(recipe.model.backbone.params, accepted, ("model", "backbone", "params"),
                      f"architecture '{arch.name}'", where)

    source = lookup(SOURCES, recipe.data.source, ("data", "source")).obj
    recipe.data.params = _validate_section(source.Config, recipe.data.params, ("data", "params"), where)
    if hasattr(source, "params_problem"):        # params that only fail at the model's input size
        field, problem = source.params_problem(recipe.data.params, recipe.model.input_shape)
        if problem:
            raise where.error(("data", "params", field), problem)

    opt = lookup(OPTIMIZERS, recipe.train.optimizer.name, ("train", "optimizer", "name"))
    given = {k for k, v in recipe.train.optimizer.model_dump(exclude={"name", "learning_rate"}).items()
             if v is not None}
    _check_params(sorted(given), opt.meta.get("params", ()), ("train", "optimizer"),
                  f"optimizer '{opt.name}'", where)

    sched = lookup(SCHEDULES, recipe.train.schedule.name, ("train", "schedule", "name"))
    given = {k for k, v in recipe.train.schedule.model_dump(exclude={"name"}).items() if v is not None}
    _check_params(sorted(given), sched.meta.get("params", ()), ("train", "schedule"),
                  f"schedule '{sched.name}'", where)

    ft = recipe.train.finetune
    if ft is not None:
        parts = ft.freeze.split()
        if not (ft.freeze in ("none", "backbone") or (len(parts) == 2 and parts[0] == "until_layer")):
            raise where.error(("train", "finetune", "freeze"),
                              f"must be 'none', 'backbone' or 'until_layer NAME', got {ft.freeze!r}")
    if recipe.distribute.devices and recipe.distribute.strategy not in ("mirrored", "one_device"):
        raise where.error(("distribute", "devices"),
                          f"applies to the mirrored and one_device strategies, not "
                          f"'{recipe.distribute.strategy}'")
