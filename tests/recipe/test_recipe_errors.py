"""Recipe validation: every error names the field, the file and line (or the override) and a fix."""

from __future__ import annotations

import textwrap

import pytest

from visiontk.errors import RecipeError
from visiontk.recipe import load_recipe
from visiontk.recipe.lines import parse_override

GOOD = textwrap.dedent("""\
    task: classification
    model:
      backbone: {name: lenet5, weights: none}
      input_shape: [32, 32, 3]
    data:
      source: synthetic-scenes
      params: {train_size: 64, val_size: 32}
    train:
      epochs: 2
      batch_size: 16
      optimizer:
        name: sgd
        learning_rate: 0.01
        momentum: 0.9
    """)


def write(tmp_path, text, name="r.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def error_of(path, overrides=()):
    with pytest.raises(RecipeError) as info:
        load_recipe(path, overrides)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_good_recipe_loads_with_defaults(tmp_path):
    r = load_recipe(write(tmp_path, GOOD))
    assert r.train.optimizer.momentum == 0.9
    assert r.name == "r" and r.output.endswith("runs/r")
    assert type(r.model.head).__name__ == "ClassificationHead"       # the task's Config, validated
    assert type(r.data.params).__name__ == "SyntheticConfig"


def test_value_out_of_range_names_field_file_and_line(tmp_path):
    p = write(tmp_path, GOOD.replace("momentum: 0.9", "momentum: 1.5"))
    msg = error_of(p)
    assert msg == f"train.optimizer.momentum: must be between 0.0 and 1.0, got 1.5 ({p} line 14)"


def test_unknown_key_suggests_nearest(tmp_path):
    p = write(tmp_path, GOOD.replace("  epochs: 2", "  epoch: 2"))
    msg = error_of(p)
    assert msg.startswith("train.epoch: unknown key (did you mean 'epochs'?)")
    assert f"({p} line 9)" in msg


def test_wrong_type(tmp_path):
    msg = error_of(write(tmp_path, GOOD.replace("batch_size: 16", "batch_size: many")))
    assert msg.startswith("train.batch_size: must be an integer, got 'many'") and "line 10" in msg


def test_missing_required_field(tmp_path):
    msg = error_of(write(tmp_path, GOOD.replace("task: classification\n", "")))
    assert msg.startswith("task: is required")


def test_missing_file_and_yaml_syntax(tmp_path):
    assert error_of(tmp_path / "nope.yaml").startswith("recipe file not found")
    msg = error_of(write(tmp_path, GOOD.replace("  epochs: 2", "  epochs: [2")))
    assert msg.startswith("YAML syntax error") and "line" in msg


def test_duplicate_keys_are_refused(tmp_path):
    msg = error_of(write(tmp_path, GOOD + "task: classification\n"))
    assert "duplicate key" in msg and "line 15" in msg


@pytest.mark.parametrize("old,new,field,hint", [
    ("name: lenet5", "name: lenet", None, None),                      # an alias: fine
    ("name: lenet5", "name: resnt18", "model.backbone.name", "resnet18"),
    ("task: classification", "task: clasification", "task", "classification"),
    ("name: sgd", "name: adamm", "train.optimizer.name", "adam"),
    ("source: synthetic-scenes", "source: synthetic-scene", "data.source", "synthetic-scenes"),
])
def test_unknown_names_suggest(tmp_path, old, new, field, hint):
    p = write(tmp_path, GOOD.replace(old, new))
    if field is None:
        load_recipe(p)
        return
    msg = error_of(p)
    assert msg.startswith(f"{field}: unknown") and f"did you mean '{hint}'" in msg and str(p) in msg


def test_option_that_does_not_apply_to_the_optimizer(tmp_path):
    msg = error_of(write(tmp_path, GOOD.replace("name: sgd", "name: adam")))
    assert msg.startswith("train.optimizer.momentum: does not apply to optimizer 'adam'")


def test_task_head_and_source_params_are_validated(tmp_path):
    msg = error_of(write(tmp_path, GOOD.replace("train_size: 64", "train_sise: 64")))
    assert msg.startswith("data.params.train_sise: unknown key (did you mean 'train_size'?)")
    msg = error_of(write(tmp_path, GOOD), ["model.head.top_k=0"])
    assert msg.startswith("model.head.top_k: must be greater than 0, got 0 (override 'model.head.top_k=0')")


def test_backbone_params_checked_against_the_builder(tmp_path):
    msg = error_of(write(tmp_path, GOOD), ["model.backbone.params.widht=3"])
    assert msg.startswith("model.backbone.params.widht: does not apply to architecture 'lenet5'")
    msg = error_of(write(tmp_path, GOOD), ["model.backbone.params.num_classes=3"])
    assert "is set by visiontk" in msg


@pytest.mark.parametrize("text,value", [
    ("train.epochs=3", 3),
    ("model.input_shape=[28, 28, 1]", [28, 28, 1]),
    ("model.backbone={name: lenet5, weights: none}", {"name": "lenet5", "weights": "none"}),
    ("data.source=fashion-mnist", "fashion-mnist"),
    ("x.y=__import__('os').system('echo hi')", "__import__('os').system('echo hi')"),  # text, never run
    ("data.augment.flip=none", "none"),                  # the value recipes use, as in YAML
    ("model.feature=null", None), ("model.feature=~", None), ("model.feature=None", None),
    ("train.optimizer.nesterov=true", True), ("train.deterministic=no", False),
    ("train.optimizer.learning_rate=1e-3", 0.001),        # YAML 1.1 reads 1e-3 as text; Python does not
    ("name='3'", "3"), ('name="a b"', "a b"),             # quoted: text
    ("output=", ""),                                      # empty: the empty string (then refused)
    ("seed= 7 ", 7),
])
def test_override_values_are_yaml(text, value):
    assert parse_override(text) == (tuple(text.partition("=")[0].strip().split(".")), value)


@pytest.mark.parametrize("value", ["/data/my set #1", "*.png", "a: b", "it's", 'say "hi"', "C:\\data",
                                   "caf\u00e9", "\x85\x88", "\U0001f600", "\udcff", "yes", "null", "1e-3",
                                   "", " spaced ", "[1, 2]", 7, [1, "a"]])
def test_format_override_reads_back_exactly(value):
    from visiontk.recipe.lines import format_override

    assert parse_override(format_override("data.params.path", value)) == (("data", "params", "path"), value)


def test_override_nan_and_inf_are_numbers_then_refused(tmp_path):
    import math

    assert math.isnan(parse_override("a.b=nan")[1]) and parse_override("a.b=-inf")[1] == -math.inf
    msg = error_of(write(tmp_path, GOOD), ["train.optimizer.learning_rate=nan"])
    assert msg == ("train.optimizer.learning_rate: must be a finite number, got nan; NaN and infinity "
                   "are not allowed (override 'train.optimizer.learning_rate=nan')")


def test_overrides_apply(tmp_path):
    r = load_recipe(write(tmp_path, GOOD), ["train.epochs=5", "train.optimizer.nesterov=true",
                                            "data.augment.flip=none",
                                            "model.backbone={name: lenet5, weights: none}"])
    assert r.train.epochs == 5 and r.train.optimizer.nesterov is True and r.data.augment.flip == "none"
    assert r.model.backbone.name == "lenet5"
    with pytest.raises(RecipeError, match="not of the form"):
        load_recipe(write(tmp_path, GOOD), ["train.epochs"])


def test_aliases_and_merge_keys_within_the_budget(tmp_path):
    """Aliases and merge keys are fine in moderation; overrides then change one place only."""
    from visiontk.recipe.loader import unshared

    text = GOOD.replace("{name: lenet5, weights: none}",
                        "{name: lenet5, weights: none, params: {filters: &f [6, 16], units: *f}}")
    text += "  schedule: {<<: {name: step, factor: 0.5}, drop_every_epochs: 1}\n"
    r = load_recipe(write(tmp_path, text), ["model.backbone.params.filters=[4, 8]"])
    assert r.model.backbone.params == {"filters": [4, 8], "units": [6, 16]}
    assert r.train.schedule.name == "step" and r.train.schedule.drop_every_epochs == 1
    shared = {"k": [1]}
    copy = unshared({"a": shared, "b": shared})
    assert copy == {"a": {"k": [1]}, "b": {"k": [1]}} and copy["a"] is not copy["b"]


def test_an_error_inside_an_alias_points_at_its_use(tmp_path):
    text = "head_cfg: &h {top_k: 0}\n" + GOOD.replace("  input_shape:", "  head: *h\n  input_shape:")
    msg = error_of(write(tmp_path, text))
    assert msg.startswith("head_cfg: unknown key")           # checked first; now without it:
    from visiontk.recipe.lines import parse_yaml

    data, lines = parse_yaml(text, "r.yaml")
    assert data["model"]["head"] is data["head_cfg"]          # shared, not expanded
    assert lines[("model", "head")] == 5 and ("model", "head", "top_k") not in lines


def test_python_api_dict_is_checked_too(tmp_path):
    import yaml

    data = yaml.safe_load(GOOD)
    data["model"]["backbone"]["params"] = {"units": [120, float("inf")]}
    with pytest.raises(RecipeError, match=r"^model.backbone.params.units.1: must be a finite number"):
        load_recipe(data=data)
    loop = yaml.safe_load(GOOD)
    loop["model"]["backbone"]["params"] = {"self": loop}
    with pytest.raises(RecipeError, match="nested more than 50 levels"):
        load_recipe(data=loop)


def test_init_from_must_exist_except_in_a_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = write(tmp_path, GOOD.replace("  input_shape:", "  init_from: runs/src\n  input_shape:"))
    msg = error_of(p)
    assert msg.startswith("model.init_from: runs/src not found") and f"({p} line 4)" in msg
    assert load_recipe(p, check_paths=False).model.init_from == "runs/src"
    (tmp_path / "runs" / "src").mkdir(parents=True)
    assert load_recipe(p).model.init_from == "runs/src"
    (tmp_path / "runs" / "src").rmdir()
    run = tmp_path / "runs" / "ft"                            # a run's own recipe.yaml: history
    run.mkdir()
    (run / "recipe.yaml").write_text(p.read_text())
    (run / "meta.json").write_text("{}")
    assert load_recipe(run / "recipe.yaml").model.init_from == "runs/src"
    assert error_of(run / "recipe.yaml", ["model.init_from=runs/other"]).startswith(
        "model.init_from: runs/other not found")


def test_the_crop_stage_weights_file_must_exist(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = GOOD.replace("task: classification", "task: localization").replace(
        "  input_shape: [32, 32, 3]",
        "  input_shape: [32, 32, 3]\n  head:\n    crop_size: 16\n"
        "    crop_backbone: {weights: runs/wide/backbone.weights.h5}")
    p = write(tmp_path, text)
    msg = error_of(p)
    assert msg.startswith("model.head.crop_backbone.weights: runs/wide/backbone.weights.h5 not "
                          "found (relative to the working directory); train the run") and \
        f"({p} line 7)" in msg
    (tmp_path / "runs" / "wide").mkdir(parents=True)
    (tmp_path / "runs" / "wide" / "backbone.weights.h5").write_bytes(b"")
    assert load_recipe(p).model.head.crop_backbone.weights == "runs/wide/backbone.weights.h5"


def test_every_shipped_recipe_is_valid():
    from pathlib import Path

    recipes = sorted((Path(__file__).resolve().parents[2] / "recipes").glob("*.yaml"))
    assert recipes
    for path in recipes:
        load_recipe(path, check_paths=False)        # finetune.yaml starts from runs/classify


@pytest.mark.parametrize("text, shown", [("\n", r"\n"), ("a\r\nb", r"a\r\nb")])
def test_an_override_with_line_breaks_is_named_on_one_line(text, shown):
    """Found by the fuzz test: the message quoted the override as it was, line break and all."""
    with pytest.raises(RecipeError) as exc:
        parse_override(text)
    assert str(exc.value) == f"override '{shown}' is not of the form key.sub=value (e.g. train.epochs=3)"
