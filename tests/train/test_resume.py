"""A run killed with SIGKILL mid-epoch resumes from its last finished epoch when rerun, under float32
and under mixed_bfloat16."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, run_cli, write_recipe


@pytest.mark.parametrize("policy", ["float32", pytest.param("mixed_bfloat16", marks=pytest.mark.slow)])
def test_sigkill_then_rerun_resumes_and_finishes(tmp_path, policy):
    run = tmp_path / "run"
    # the learning rate halves every epoch: it follows the optimizer's step counter
    recipe = write_recipe(tmp_path / "r.yaml", {
        "data": {"params": {"train_size": 1200, "val_size": 32}},
        "train": {"epochs": 4, "batch_size": 16, "mixed_precision": policy,
                  "schedule": {"name": "step", "drop_every_epochs": 1, "factor": 0.5}}}, output=run)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"}
    proc = subprocess.Popen([sys.executable, "-m", "visiontk", "train", str(recipe)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pointer = run / "backup" / "latest.json"
    deadline = time.time() + 240
    while not pointer.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert pointer.exists(), "the first epoch never finished"
    time.sleep(0.3)                                    # into the second epoch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "metrics.json").exists(), "killed too late: the run had finished"

    out = run_cli("train", recipe)
    assert out.returncode == 0, out.stderr
    assert "resuming" in out.stdout and "from epoch" in out.stdout
    resumed_from = int(out.stdout.split("from epoch")[1].split()[0])
    assert 1 <= resumed_from < 4
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    assert (run / "metrics.json").is_file() and not (run / "backup").exists()
    assert json.loads((run / "meta.json").read_text())["precision"]["policy"] == policy
    # the optimizer resumed too: its step counter continued instead of restarting at the resume
    # (a restarted one would hold (4 - resumed_from) epochs of steps): the learning rate after
    # epoch e is 0.001 / 2 ** (e + 1), in the resumed epochs too
    assert [float(r["learning_rate"]) for r in rows] == pytest.approx([0.001 / 2 ** (e + 1)
                                                                       for e in range(4)])
    assert all(math.isfinite(float(r["loss"])) for r in rows)
    if policy != "float32":
        return               # model.keras is the float32 copy of the mixed model, without its optimizer
    # last.weights.h5 is the state after the last epoch (model.keras carries the best epoch's)
    import keras

    from visiontk.model_files import import_custom_objects

    import_custom_objects()
    model = keras.saving.load_model(run / "model.keras")           # compiled: has its optimizer
    model.load_weights(run / "checkpoints" / "last.weights.h5")
    assert int(model.optimizer.iterations) == 4 * (1200 // 16)
