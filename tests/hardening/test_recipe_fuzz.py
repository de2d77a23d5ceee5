"""Fuzzing the recipe loader (issue 17): random YAML documents, random recipe-shaped mappings, random
text and bytes, and random overrides. The only outcomes allowed are a valid Recipe or a VisionTKError
of one line; through the CLI, exit 0, or exit 2 with one `error:` line that is not the catch-all for
unexpected exceptions. Derandomized and bounded (a few seconds) so that CI is reproducible.
"""

from __future__ import annotations

import contextlib
import io

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hardening.builders_recipe import tiny_yaml
from visiontk.errors import VisionTKError
from visiontk.recipe import load_recipe

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# real section and field names, so that random documents reach the deeper checks
NAMES = ["task", "model", "data", "train", "distribute", "output", "seed", "name", "backbone",
         "input_shape", "head", "params", "source", "augment", "optimizer", "learning_rate", "epochs",
         "batch_size", "schedule", "regularization", "weight_decay", "dropout", "momentum", "min_lr",
         "label_smoothing", "finetune", "freeze", "init_from", "weights", "strategy", "devices",
         "classes", "train_size", "top_k", "flip", "<<"]
WORDS = ["classification", "detection", "segmentation", "lenet5", "resnet18", "synthetic-scenes",
         "image-folder", "sgd", "adam", "cosine", "step", "none", "imagenet", "backbone", "mirrored",
         ".nan", "-.inf", "~", "null", "yes", "1e-3", "0x1F", "2024-13-45", "*a", "&a x", "!!int x",
         "!!python/name:os.system", "[1, 2", "{a: 1}", "key: value", "\t", "--- x", "", " ",
         "x" * 300, "runs/../..", "/"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(WORDS))
keys = st.one_of(st.sampled_from(NAMES), st.text(max_size=8), st.integers(-3, 3))
documents = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(keys, inner, max_size=5)),
                         max_leaves=25)
# the fields of a recipe (most random changes go there, to reach the checks behind the schema)
FIELDS = ["task", "name", "output", "seed", "model.backbone", "model.backbone.name",
          "model.backbone.weights", "model.backbone.params", "model.backbone.params.filters",
          "model.input_shape", "model.head", "model.head.top_k", "model.head.aux_weight",
          "model.feature", "model.init_from", "data.source", "data.params", "data.params.classes",
          "data.params.texture", "data.params.train_size", "data.augment.flip", "data.resize",
          "train.epochs", "train.batch_size", "train.optimizer.name", "train.optimizer.learning_rate",
          "train.optimizer.momentum", "train.schedule.name", "train.schedule.min_lr",
          "train.schedule.drop_every_epochs", "train.regularization.weight_decay",
          "train.regularization.dropout", "train.regularization.label_smoothing",
          "train.early_stopping", "train.finetune.freeze", "train.checkpoint_monitor",
          "distribute.strategy", "distribute.devices", "distribute.logical_cpus"]
paths = st.one_of(st.sampled_from(FIELDS).map(lambda f: f.split(".")),
                  st.lists(st.sampled_from(NAMES), min_size=1, max_size=4))
# YAML-ish override values: the characters YAML gives meaning to
yamlish = st.one_of(st.sampled_from(WORDS),
                    st.text(alphabet=st.sampled_from(list("ab1.-_:,[]{}'\"&*!#|>%@` \t~=\\")),
                             max_size=16))
overrides = st.lists(st.one_of(st.builds(lambda p, v: ".".join(p) + "=" + v, paths, yamlish),
                               st.text(max_size=20)),
                     max_size=3)


def set_at(data: dict, path: list, value) -> dict:
    node = data
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value
    return data


def loads_or_refuses(path=None, over=(), data=None) -> None:
    """The contract: a valid Recipe, or a VisionTKError of one line."""
    try:
        recipe = load_recipe(path, over, data=data)
    except VisionTKError as exc:
        assert str(exc).strip() and "\n" not in str(exc), repr(str(exc))
        return
    assert recipe.task and recipe.output
    recipe.to_yaml()


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "fuzz.yaml"


@SETTINGS
@given(doc=documents)
def test_random_yaml_documents(target, doc):
    target.write_text(yaml.safe_dump(doc), encoding="utf-8")
    loads_or_refuses(target)


@SETTINGS
@given(changes=st.lists(st.tuples(paths, st.one_of(scalars, documents)), min_size=1, max_size=2),
       over=st.one_of(st.just([]), overrides))
def test_recipes_with_random_parts_and_overrides(target, changes, over):
    data = yaml.safe_load(tiny_yaml())
    for path, value in changes:
        set_at(data, path, value)
    target.write_text(yaml.safe_dump(data), encoding="utf-8")
    loads_or_refuses(target, over)
    loads_or_refuses(data=data, over=over)          # the Python API: a dict, no YAML


@SETTINGS
@given(text=st.one_of(st.text(max_size=200),
                      st.lists(st.sampled_from(WORDS + NAMES + [": ", "\n", "  ", "- "]),
                               max_size=40).map("".join)))
def test_random_text(target, text):
    target.write_text(text, encoding="utf-8")
    loads_or_refuses(target)


@SETTINGS
@given(blob=st.binary(max_size=200), over=overrides)
def test_random_bytes_and_overrides_through_the_cli(target, blob, over):
    from visiontk.cli import main

    target.write_bytes(blob)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(["recipe", "check", str(target), *over])
            code = 0
        except SystemExit as exc:
            code = exc.code
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    if code == 0:
        assert not lines, lines
        return
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, lines)
    assert "rerun with --debug" not in lines[0], lines[0]        # an unexpected exception, not ours
