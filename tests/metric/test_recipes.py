"""The metric-learning recipes validate and train the loss they are named for; the synthetic one
trains for real with no data to download, and its measured threshold lands in the decode settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from visiontk.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[2]
LOSS_OF = {"siamese": "triplet_semihard", "contrastive": "contrastive", "center_loss": "center",
           "identities": "triplet_semihard"}
# recipes/identities.yaml itself, shrunk to one short epoch (the sizes, not the model or the loss)
TINY_OVERRIDES = ["train.epochs=1", "train.batch_size=32", "train.tensorboard=false",
                  "data.params.train_size=128", "data.params.val_size=32", "data.params.test_size=32",
                  "model.head.knn_references=64", "model.head.verification_pairs=100",
                  "model.head.epoch_eval_images=32"]


@pytest.mark.parametrize("name", sorted(LOSS_OF))
def test_recipe_validates(name):
    r = load_recipe(ROOT / "recipes" / f"{name}.yaml")
    assert r.task == "metric"
    assert r.model.head.loss == LOSS_OF[name]
    if r.data.source == "fashion-mnist":
        # the Fashion-MNIST recipes train on classes 0-6 and hold out 7-9
        assert r.model.head.train_identities == [0, 1, 2, 3, 4, 5, 6]
    if r.model.head.loss.startswith("triplet_"):
        assert r.train.batch_size % r.model.head.images_per_identity == 0


def test_synthetic_identity_recipe_builds_without_data(capsys):
    from visiontk.train.loop import dry_run

    r = load_recipe(ROOT / "recipes" / "identities.yaml")
    p = dry_run(r, echo=print)
    out = capsys.readouterr().out
    assert "embedding" in out and p.model.output.shape[-1] == r.model.head.embedding_size
    assert p.source.extra_info()["identities"] == 48


@pytest.fixture(scope="module")
def identities_run(tmp_path_factory):
    """recipes/identities.yaml trained for one tiny epoch (the generator makes its data)."""
    from visiontk.train.loop import train

    out = tmp_path_factory.mktemp("identities") / "run"
    recipe = load_recipe(ROOT / "recipes" / "identities.yaml",
                         overrides=[*TINY_OVERRIDES, f"output={out}"])
    assert recipe.data.source == "synthetic-scenes"            # nothing to download
    return train(recipe, echo=lambda *_: None)


def test_synthetic_identity_recipe_trains_with_no_data(identities_run):
    from visiontk.model_files import load_keras_model

    run = identities_run.run_dir
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train"]["epochs_run"] == 1
    for split in ("val", "test"):                   # held-out identities scored apart from seen ones
        assert metrics[split]["headline_on"] == "unseen" and metrics[split]["unseen"]["identities"] > 0
        assert 0.0 <= metrics[split]["recall@1"] <= 1.0 and metrics[split]["seen"]["knn_references"] == 64
    model = load_keras_model(run / "model.keras")
    assert [t.name for t in model.inputs] == ["image"] and model.output.shape[-1] == 32


def test_measured_threshold_is_in_the_decode_settings(identities_run):
    """meta.json (and so an export's metadata.json) carries the threshold measured at evaluation,
    test split first; evaluating the val split afterwards does not replace it."""
    from visiontk.evaluate import evaluate

    run = identities_run.run_dir
    test_threshold = identities_run.metrics["test"]["threshold"]
    decode = json.loads((run / "meta.json").read_text())["decode"]
    assert test_threshold is not None
    assert decode["threshold"] == pytest.approx(test_threshold) and decode["threshold_from"] == "test"
    val = evaluate(run, "val")
    assert val["threshold"] != pytest.approx(test_threshold)
    assert json.loads((run / "meta.json").read_text())["decode"] == decode


def test_a_recipe_threshold_is_not_replaced():
    from visiontk.tasks.metric.task import threshold_update

    for fixed in ({"threshold": 0.9, "threshold_from": "recipe"}, {"threshold": 0.9}):   # and older runs
        assert threshold_update(fixed, "test", 0.3) == {}
    decode = {"threshold": None, "threshold_from": None}
    decode.update(threshold_update(decode, "val", 0.3))
    assert decode == {"threshold": 0.3, "threshold_from": "val"}
    decode.update(threshold_update(decode, "test", 0.4))
    assert threshold_update(decode, "val", 0.5) == {}                    # test wins over val
    assert decode == {"threshold": 0.4, "threshold_from": "test"}
    assert threshold_update(decode, "val_1a2b3c4d", 0.1) == {}          # other data never sets it
