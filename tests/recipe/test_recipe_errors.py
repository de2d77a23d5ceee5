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


def test_overrides_are_literals_not_code(tmp_path):
    assert parse_override("train.epochs=3") == (("train", "epochs"), 3)
    assert parse_override("model.input_shape=[28, 28, 1]")[1] == [28, 28, 1]
    assert parse_override("data.source=fashion-mnist")[1] == "fashion-mnist"
    assert parse_override("x.y=__import__('os').system('echo hi')")[1] == \
        "__import__('os').system('echo hi')"                       # a string, never evaluated
    assert parse_override("data.augment.flip=none")[1] == "none"          # a value, as in YAML
    assert parse_override("model.feature=null")[1] is None
    assert parse_override("model.feature=None")[1] is None
    r = load_recipe(write(tmp_path, GOOD), ["train.epochs=5", "train.optimizer.nesterov=true",
                                            "data.augment.flip=none"])
    assert r.train.epochs == 5 and r.train.optimizer.nesterov is True and r.data.augment.flip == "none"
    with pytest.raises(RecipeError, match="not of the form"):
        load_recipe(write(tmp_path, GOOD), ["train.epochs"])


def test_every_shipped_recipe_is_valid():
    from pathlib import Path

    recipes = sorted((Path(__file__).resolve().parents[2] / "recipes").glob("*.yaml"))
    assert recipes
    for path in recipes:
        load_recipe(path, check_paths=False)        # finetune.yaml starts from runs/classify
