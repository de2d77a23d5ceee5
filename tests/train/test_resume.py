"""A run killed with SIGKILL mid-epoch resumes from its last finished epoch when rerun."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

from tests.conftest import ROOT, run_cli, write_recipe


def test_sigkill_then_rerun_resumes_and_finishes(tmp_path):
    run = tmp_path / "run"
    recipe = write_recipe(tmp_path / "r.yaml", {
        "data": {"params": {"train_size": 1200, "val_size": 32}},
        "train": {"epochs": 4, "batch_size": 16}}, output=run)
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
    # the optimizer resumed too: its step counter continued instead of restarting at the resume
    # (a restarted one would hold (4 - resumed_from) epochs of steps). last.weights.h5 is the state
    # after the last epoch (model.keras carries the best epoch's).
    import keras

    from visiontk.model_files import import_custom_objects

    import_custom_objects()
    model = keras.saving.load_model(run / "model.keras")           # compiled: has its optimizer
    model.load_weights(run / "checkpoints" / "last.weights.h5")
    assert int(model.optimizer.iterations) == 4 * (1200 // 16)
