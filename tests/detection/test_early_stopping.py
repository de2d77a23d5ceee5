"""`train.early_stopping: {monitor: val_map50}` stops a detection run: the mAP callback writes
val_map50 into the epoch logs before Keras' EarlyStopping reads them. With `map_every: N` the metric
exists on every N-th epoch only, and patience counts those evaluations (docs/detection.md)."""

from __future__ import annotations

import csv

import pytest

from tests.tiny_recipes import all_recipes


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Early stopping conditioned on metric `val_map50`")  # odd epochs
def test_val_map50_drives_early_stopping_every_map_every_epochs(tmp_path):
    from tests.conftest import deep_update
    from visiontk.io import read_json
    from visiontk.recipe import load_recipe
    from visiontk.train.loop import train

    # min_delta 1.0: no mAP can beat the first evaluation, so the second one stops the run
    data = deep_update(all_recipes()["detection"], {
        "model": {"head": {"map_every": 2}},
        "data": {"params": {"train_size": 16, "val_size": 8}},
        "train": {"epochs": 6, "early_stopping": {"monitor": "val_map50", "patience": 1,
                                                   "min_delta": 1.0}},
        "output": str(tmp_path / "run")})
    result = train(load_recipe(data=data), echo=lambda *_: None)
    with open(result.run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    # evaluations at epochs 2 and 4 -> stopped after 4 of 6 (map_every 1 would stop after 2)
    assert len(rows) == 4
    assert [bool(r.get("val_map50")) for r in rows] == [False, True, False, True]
    best = read_json(result.run_dir / "checkpoints" / "best.json")     # no min_delta for the best
    assert best["monitor"] == "val_map50" and best["epoch"] in (2, 4)
