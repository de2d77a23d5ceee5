"""Bad recipes and overrides (issue 17): `recipe check` and `train` give one line naming the field
and the file line (or the override), exit 2, and leave the sandbox as it was: `train` creates no run
folder. One case is one line; `both` makes a `recipe check` and a `train` case of one input.

Exact messages of the common mistakes (unknown key, wrong type, out of range, unknown names) are
pinned in tests/recipe/test_recipe_errors.py; here the same classes appear in other fields, next to
what issue 17 found: NaN and infinity, alias bombs, Python tags, empty output, missing init_from,
files that are not YAML text, and bounds on size, depth and numbers.
"""

from __future__ import annotations

import random

import pytest

from tests.hardening.builders_recipe import (alias_bomb, merge_bomb, nested_bomb, recipe,
                                             tiny_yaml)
from tests.hardening.harness import BadInput, cases_param, check_bad_input

NAN, INF = float("nan"), float("inf")
CHECK, TRAIN = ["recipe", "check", "{recipe}"], ["train", "{recipe}"]


def both(id_: str, make, needles: list, overrides: tuple = ()) -> list[BadInput]:
    """The same bad input through `recipe check` and through `train`."""
    return [BadInput(f"{id_}-check", make, CHECK + list(overrides), needles),
            BadInput(f"{id_}-train", make, TRAIN + list(overrides), needles)]


def override(id_: str, text: str, needles: list, command=CHECK) -> BadInput:
    """A valid recipe with one bad override; the message names the override."""
    text = text.replace("{", "{{").replace("}", "}}")            # argv and needles are formatted
    return BadInput(id_, recipe(), command + [text], needles + [text[:60]])


def make_dir(box):
    (box / "r.yaml").mkdir()
    return {"recipe": box / "r.yaml"}


FINITE = "must be a finite number"
SGD = {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9}

CASES = [
    # NaN and infinity: typed fields, text forms, free mappings, overrides (point 3)
    *both("nan-learning-rate", recipe({"train": {"optimizer": {"learning_rate": NAN}}}),
          ["train.optimizer.learning_rate", FINITE, "{recipe} line"]),
    *both("inf-weight-decay", recipe({"train": {"regularization": {"weight_decay": INF}}}),
          ["train.regularization.weight_decay", FINITE, "{recipe} line"]),
    BadInput("neg-inf-min-lr", recipe({"train": {"schedule": {"name": "cosine", "min_lr": -INF}}}),
             CHECK, ["train.schedule.min_lr", FINITE, "line"]),
    BadInput("nan-as-text-label-smoothing",
             recipe({"train": {"regularization": {"label_smoothing": "nan"}}}),
             CHECK, ["train.regularization.label_smoothing", FINITE, "'nan'", "line"]),
    BadInput("inf-dropout", recipe({"train": {"regularization": {"dropout": INF}}}),
             CHECK, ["train.regularization.dropout", FINITE]),
    BadInput("nan-head-threshold", recipe({"task": "detection", "model": {"head": {"score_threshold": NAN}}}),
             CHECK, ["model.head.score_threshold", FINITE, "line"]),
    BadInput("nan-source-param", recipe({"data": {"params": {"texture": NAN}}}),
             CHECK, ["data.params.texture", FINITE, "line"]),
    BadInput("inf-in-backbone-params", recipe({"model": {"backbone": {"params": {"units": [120, INF]}}}}),
             CHECK, ["model.backbone.params.units.1", FINITE, "line"]),
    override("override-nan-momentum", "train.optimizer.momentum=nan", ["train.optimizer.momentum", FINITE]),
    override("override-dot-inf-lr", "train.optimizer.learning_rate=.inf",
             ["train.optimizer.learning_rate", FINITE], TRAIN),
    override("override-inf-lr", "train.optimizer.learning_rate=inf",
             ["train.optimizer.learning_rate", FINITE]),
    override("override-neg-inf-backbone-param", "model.backbone.params.dropout=-inf",
             ["model.backbone.params.dropout", FINITE]),
    override("override-nan-in-a-mapping", "model.head={top_k: 2, aux_weight: .nan}",
             ["model.head.aux_weight", FINITE]),
    # alias bombs (point 2): refused before anything expands them
    *both("alias-bomb-7", recipe(text=alias_bomb(7)), ["YAML aliases expand", "{recipe} line"]),
    *both("alias-bomb-9-in-backbone-params", recipe(text=nested_bomb(9)),
          ["model.backbone.params", "YAML aliases expand", "{recipe} line"]),
    BadInput("merge-key-bomb", recipe(text=merge_bomb(9)), CHECK, ["YAML aliases expand", "line"]),
    BadInput("alias-loop", recipe(text="task: classification\nmodel: &m {backbone: *m}\n"), CHECK,
             ["model.backbone", "refers to the value that contains it", "line 2"]),
    override("override-alias-bomb", "model.backbone.params.x=[&a [1,1,1,1,1,1,1,1,1,1], "
             "&b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], "
             "[*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]]", ["YAML aliases expand", "override"]),
    # tags (point 7): plain YAML only
    *both("python-object-tag", recipe(text=tiny_yaml().replace(
        "task: classification", "task: !!python/object/apply:os.system ['echo hi']")),
          ["task", "'!!python/object/apply:os.system' is not allowed", "{recipe} line 1"]),
    BadInput("python-name-tag-deep", recipe(append="distribute: {devices: [!!python/name:os.system '']}\n"),
             CHECK, ["distribute.devices.0", "!!python/name:os.system", "not allowed", "line"]),
    BadInput("binary-tag", recipe(append="name: !!binary aGVsbG8=\n"), CHECK, ["name", "!!binary"]),
    override("override-python-tag", "model.head=!!python/object/new:os.system [ls]",
             ["model.head", "!!python/object/new:os.system", "not allowed"]),
    BadInput("tag-with-bad-value", recipe(append="name: !!float abc\n"), CHECK,
             ["name", "'abc' is not a valid !!float",
              f"{{recipe}} line {len(tiny_yaml().splitlines()) + 1}"]),   # the appended line
    # output, name, init_from (points 1, 10)
    *both("blank-output", recipe({"output": "  "}), ["output", "is empty", "line"]),
    override("override-empty-output", "output=", ["output", "is empty"], TRAIN),
    BadInput("name-dot-dot", recipe({"name": ".."}), TRAIN, ["name", "plain folder name", "line"]),
    *both("missing-init-from", recipe({"model": {"init_from": "runs/classify"}}),
          ["model.init_from", "runs/classify not found", "{recipe} line"]),
    BadInput("init-from-name-too-long", recipe({"model": {"init_from": "x" * 300}}), CHECK,
             ["model.init_from", "File name too long", "line"]),
    # not a recipe at all
    BadInput("recipe-name-too-long", lambda box: {"recipe": box / ("r" * 300 + ".yaml")}, CHECK,
             ["cannot read recipe", "File name too long"]),
    BadInput("list-not-mapping", recipe(text="- task: classification\n- model: {}\n"), CHECK,
             ["the recipe must be a mapping", "{recipe}"]),
    BadInput("binary-garbage", recipe(data=random.Random(17).randbytes(512)), TRAIN,
             ["{recipe}", "not UTF-8 text"]),
    BadInput("latin-1-bytes", recipe(data=(tiny_yaml() + "name: caf\u00e9\n").encode("latin-1")), CHECK,
             ["{recipe}", "not UTF-8", "byte 0xe9"]),
    BadInput("control-characters", recipe(append="name: a\x01b\n"), CHECK,
             ["not YAML text", "#x0001", "line"]),
    BadInput("recipe-is-a-directory", make_dir, TRAIN, ["r.yaml", "is a directory"]),
    BadInput("larger-than-a-recipe", recipe(append="#" + "x" * (1 << 20) + "\n"), CHECK,
             ["{recipe}", "larger than"]),
    # syntax and structure
    BadInput("tab-indentation", recipe(text=tiny_yaml().replace("  input_shape", "\tinput_shape")), CHECK,
             ["tab character", "spaces", "line 6"]),
    BadInput("duplicate-nested-key",
             recipe(text=tiny_yaml().replace("  epochs: 1", "  epochs: 1\n  epochs: 2")),
             TRAIN, ["train.epochs", "duplicate key", "line"]),
    BadInput("two-documents", recipe(append="---\ntask: detection\n"), CHECK, ["single document", "line"]),
    BadInput("undefined-alias", recipe(append="seed: *nothing\n"), CHECK, ["undefined alias", "line"]),
    BadInput("nested-200-deep", recipe(append="name: " + "[" * 200 + "]" * 200 + "\n"), CHECK,
             ["nested more than 50 levels", "line"]),
    override("override-key-100-parts", "model." + ".".join(["x"] * 100) + "=1", ["101 parts"]),
    BadInput("huge-integer", recipe({"train": {"epochs": 10 ** 40}}), CHECK,
             ["train.epochs", "41 digits", "too large", "line"]),
    override("override-seed-beyond-uint32", "seed=4294967296", ["seed", "between 0 and 4294967295"]),
    BadInput("unknown-key-in-augment", recipe({"data": {"augment": {"filp": "horizontal"}}}), TRAIN,
             ["data.augment.filp", "did you mean 'flip'", "line"]),
    BadInput("input-shape-as-text", recipe({"model": {"input_shape": "32x32x3"}}), CHECK,
             ["model.input_shape", "must be a list", "line"]),
    # bad override forms (point 10)
    override("override-without-equals", "train.epochs", ["not of the form key.sub=value"]),
    override("override-empty-key-part", "train..epochs=3", ["empty key part"]),
    override("override-bad-yaml", "train.epochs=[1", ["train.epochs", "YAML syntax error", "quote"]),
    override("override-into-a-value", "train.epochs.x=1", ["'train.epochs' is not a section"]),
    override("override-mapping-with-unknown-key", "model.backbone={name: lenet5, weigths: none}",
             ["model.backbone.weigths", "did you mean 'weights'"]),
]


@pytest.mark.parametrize("case", cases_param(CASES))
def test_bad_recipe(case, sandbox, capfd):
    check_bad_input(case, sandbox, capfd)
