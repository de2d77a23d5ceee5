"""A batch-norm backbone under `visiontk launch --workers 2`: ResNet-18 at tiny width (widths 4, 8, 8,
8 at 32 px). Each worker normalises with its own replica's batch; the moving statistics are averaged
across the workers at every epoch end, so both end with the same weights (before, the fingerprints
differed). Validation covers 50 images, not a multiple of the global batch of 16: each worker runs
its own shard (25 images, batches of 8: the last one partial), the metric states are summed across
the workers once, and the figures equal single-device validation on the same weights.
"""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest

from tests.conftest import run_cli, write_recipe

pytestmark = pytest.mark.slow

VAL_IMAGES = 50
RESNET = {"model": {"backbone": {"name": "resnet18", "weights": "none",
                                 "params": {"widths": [4, 8, 8, 8]}}},
          "data": {"params": {"train_size": 64, "val_size": VAL_IMAGES}},
          "train": {"epochs": 2, "batch_size": 16}}


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    """(launcher's completed process, run folder) of the 2-worker ResNet run."""
    folder = tmp_path_factory.mktemp("mw_bn")
    recipe = write_recipe(folder / "bn.yaml", RESNET, output=folder / "run")
    (folder / "tmp").mkdir()
    out = run_cli("launch", "--workers", "2", "--timeout", "280", recipe, timeout=300,
                  env={"TMPDIR": str(folder / "tmp")})
    return out, folder / "run"


def test_batch_norm_workers_end_with_equal_weights_and_exit_cleanly(launched):
    out, run = launched
    said = out.stdout + out.stderr
    assert out.returncode == 0, said[-4000:]
    prints = dict(re.findall(r"\[worker (\d)\] .*weights fingerprint (\w+)", out.stdout))
    assert set(prints) == {"0", "1"} and prints["0"] == prints["1"], said[-4000:]
    # a worker leaving first made the chief's coordination service report it as crashed
    assert "UNAVAILABLE" not in said and "StartAbort" not in said, said[-4000:]
    assert (run / "metrics.json").is_file()


def test_validation_over_two_workers_equals_a_single_device(launched):
    """The last epoch's val_loss / val_accuracy of the 2-worker run are single-device validation
    of that epoch's weights (checkpoints/last.weights.h5) on all 50 images."""
    from visiontk.recipe import load_recipe
    from visiontk.train.session import compile_model, prepare

    out, run = launched
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    last = list(csv.DictReader(open(run / "history.csv")))[-1]
    p = prepare(load_recipe(run / "recipe.yaml", ["distribute.strategy=auto"]))
    p.model.load_weights(str(run / "checkpoints" / "last.weights.h5"))
    moving = [layer.moving_mean.numpy() for layer in p.model._flatten_layers()
              if layer.__class__.__name__ == "BatchNormalization"]
    assert moving and any(np.abs(m).max() > 0 for m in moving)     # batch norm, and it learned
    compile_model(p, 1)
    val = p.source.load("val")
    assert len(val) == VAL_IMAGES and VAL_IMAGES % 16
    single = p.model.evaluate(p.task.validation_dataset(val), return_dict=True, verbose=0)
    assert float(last["val_loss"]) == pytest.approx(single["loss"], rel=1e-5)
    assert float(last["val_accuracy"]) == pytest.approx(single["accuracy"], abs=1e-6)
