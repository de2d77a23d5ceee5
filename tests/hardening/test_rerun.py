"""Running a command again does what a user expects (issue 17, point 9): a finished run is kept and the
new one goes to the next free numbered folder (said on one line); an unfinished run of the same recipe
resumes, wherever it is; `--force` retrains in place. The README's own `make train`, its Python
snippet and `visiontk launch` all succeed the second time; evaluating on other data keeps the run's own
figures."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.conftest import ROOT, cli_in_process, run_cli
from tests.hardening.builders_runs import laid_out_run, tiny_recipe_file, train_tiny, user_folder
from tests.hardening.harness import snapshot
from visiontk.errors import RunError
from visiontk.run import place_run

RECIPE = "task: classification\ntrain: {epochs: 3, batch_size: 16}\noutput: runs/tiny\n"
MORE_EPOCHS = RECIPE.replace("epochs: 3", "epochs: 9")
OTHER = RECIPE.replace("batch_size: 16", "batch_size: 32")


def env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"}


# ---- where a rerun goes (no training) ----------------------------------------------------------

def test_a_finished_run_is_kept_and_the_next_numbered_folder_is_used(tmp_path):
    base = tmp_path / "tiny"
    laid_out_run(base, recipe=RECIPE)
    place = place_run(base, RECIPE)
    assert (place.run.path, place.mode) == (tmp_path / "tiny-2", "new")
    assert place.note == (f"visiontk: {base} holds a finished run (kept); training a new run in "
                          f"{tmp_path / 'tiny-2'} (--force retrains in {base})")
    laid_out_run(tmp_path / "tiny-2", recipe=RECIPE)
    assert place_run(base, MORE_EPOCHS).run.path == tmp_path / "tiny-3"     # more epochs: a new run


def test_an_unfinished_run_resumes_even_in_a_numbered_folder(tmp_path):
    base = tmp_path / "tiny"
    laid_out_run(base, recipe=RECIPE)
    # the numbered run records its own folder as output; epochs may differ (more epochs continue)
    laid_out_run(tmp_path / "tiny-2", finished=False,
                 recipe=RECIPE.replace("runs/tiny", str(tmp_path / "tiny-2")))
    place = place_run(base, MORE_EPOCHS)
    assert (place.run.path, place.mode) == (tmp_path / "tiny-2", "resume")
    assert "resuming the unfinished run in" in place.note
    laid_out_run(tmp_path / "solo", finished=False, recipe=RECIPE)
    solo = place_run(tmp_path / "solo", RECIPE)                      # in its own folder: no note
    assert (solo.run.path, solo.mode, solo.note) == (tmp_path / "solo", "resume", None)


def test_an_unfinished_run_of_another_recipe_is_kept_too(tmp_path):
    laid_out_run(tmp_path / "tiny", finished=False, recipe=RECIPE)
    place = place_run(tmp_path / "tiny", OTHER)
    assert (place.run.path, place.mode) == (tmp_path / "tiny-2", "new")
    assert "holds an unfinished run of another recipe (kept)" in place.note


def test_folders_that_are_not_runs(tmp_path, monkeypatch):
    with pytest.raises(RunError, match="exists and is not a visiontk run"):
        place_run(user_folder(tmp_path / "photos"), RECIPE)            # named by the user: refused
    laid_out_run(tmp_path / "tiny", recipe=RECIPE)
    user_folder(tmp_path / "tiny-2")                                  # in the way: stepped over
    assert place_run(tmp_path / "tiny", RECIPE).run.path == tmp_path / "tiny-3"
    stub = tmp_path / "stub"                                          # meta.json only: no progress
    laid_out_run(stub, finished=False)
    (stub / "recipe.yaml").unlink()
    assert (place_run(stub, RECIPE).run.path, place_run(stub, RECIPE).mode) == (stub, "new")
    monkeypatch.chdir(laid_out_run(tmp_path / "here", recipe=RECIPE))  # `output: .` on a finished run
    assert place_run(".", RECIPE).run.path == tmp_path / "here-2"


def test_the_python_api_raises_a_visiontk_error_for_a_folder_that_is_not_a_run(tmp_path):
    import visiontk
    from visiontk.errors import VisionTKError

    folder = user_folder(tmp_path / "photos")
    before = snapshot(folder)
    recipe = visiontk.load_recipe(tiny_recipe_file(tmp_path, folder))
    with pytest.raises(VisionTKError, match="not a visiontk run"):
        visiontk.train(recipe, echo=lambda s: None)
    assert snapshot(folder) == before


# ---- the README's commands, twice ----------------------------------------------------------------

@pytest.mark.slow
def test_make_train_twice_and_with_overrides(tmp_path):
    """The README's `make train` (the real Makefile target) with RECIPE= a tiny recipe."""
    if not (ROOT / ".venv" / "bin" / "visiontk").exists():
        pytest.skip("no .venv here: `make train` runs .venv/bin/visiontk (make setup creates it)")
    if subprocess.run(["make", "-q", "setup"], cwd=ROOT).returncode != 0:
        pytest.skip(".venv is not up to date: `make train` would install first (run make setup)")
    recipe = tiny_recipe_file(tmp_path, tmp_path / "runs" / "tiny")

    def make_train(*args):
        out = subprocess.run(["make", "--no-print-directory", "train", f"RECIPE={recipe}", *args],
                             cwd=ROOT, env=env(), capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        return out.stdout

    make_train()
    first = (tmp_path / "runs" / "tiny" / "metrics.json").read_bytes()
    second = make_train()
    assert f"{tmp_path}/runs/tiny holds a finished run (kept); training a new run in " \
           f"{tmp_path}/runs/tiny-2" in second
    third = make_train("ARGS=train.epochs=2")
    assert f"training a new run in {tmp_path}/runs/tiny-3" in third
    assert json.loads((tmp_path / "runs" / "tiny-3" / "metrics.json").read_text())["train"][
        "epochs_run"] == 2
    assert (tmp_path / "runs" / "tiny" / "metrics.json").read_bytes() == first


def readme_python_snippet() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_the_readme_python_snippet_twice(tmp_path):
    """The snippet runs unchanged in a folder where recipes/classify.yaml is a tiny recipe (instead of
    the shipped one, which trains for a minute) and scene.png is an image: the smallest change that
    makes it quick. The second run goes to runs/classify-2 instead of raising."""
    snippet = readme_python_snippet()
    assert 'visiontk.load_recipe("recipes/classify.yaml"' in snippet and "scene.png" in snippet
    tiny_recipe_file(tmp_path / "recipes", name="classify.yaml")        # output: runs/classify
    cv2.imwrite(str(tmp_path / "scene.png"), np.full((40, 60, 3), 128, np.uint8))
    for n, folder in ((1, "classify"), (2, "classify-2")):
        out = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, env=env(),
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, f"run {n}:\n{out.stderr[-3000:]}"
        assert (tmp_path / "runs" / folder / "metrics.json").is_file()
    assert "runs/classify holds a finished run (kept); training a new run in runs/classify-2" \
        in out.stdout
    assert (tmp_path / "preds" / "scene_pred.png").is_file()


@pytest.mark.slow
def test_launch_on_a_finished_run_trains_into_the_next_folder(tmp_path):
    run = train_tiny(tmp_path, data={"params": {"train_size": 64, "val_size": 32}})
    kept = snapshot(run)
    (tmp_path / "tmp").mkdir()
    out = run_cli("launch", "--workers", "2", "--timeout", "170", tmp_path / "tiny.yaml", timeout=180,
                  env={"TMPDIR": str(tmp_path / "tmp")})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert f"[launch] {run} holds a finished run (kept); training a new run in {run}-2" in out.stdout
    # both workers were given the one folder: the chief wrote it, the fingerprints agree
    assert re.search(rf"\[worker 0\] visiontk: .* -> {run}-2\n", out.stdout)
    assert re.search(rf"\[worker 1\] visiontk: .* -> {run}-2\n", out.stdout)
    prints = dict(re.findall(r"\[worker (\d)\] .*weights fingerprint (\w+)", out.stdout))
    assert set(prints) == {"0", "1"} and prints["0"] == prints["1"], out.stdout[-2000:]
    assert (tmp_path / "run-2" / "metrics.json").is_file() and not (tmp_path / "run-3").exists()
    assert snapshot(run) == kept


# ---- evaluating on other data ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("evaluate"))


def test_evaluating_on_other_data_keeps_the_runs_own_figures(tiny_run, capsys):
    own = json.loads((tiny_run / "metrics.json").read_text())
    plots = snapshot(tiny_run / "eval_val")
    code, out, err = cli_in_process("evaluate", tiny_run, "data.params.val_size=8", capsys=capsys)
    assert code == 0, err
    assert json.loads(out)["samples"] == 8
    label = "val data.params.val_size=8"
    assert f'under other_data "{label}"' in err
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert {k: v for k, v in metrics.items() if k != "other_data"} == own       # val, train as they were
    entry = metrics["other_data"][label]
    assert entry["samples"] == 8 and entry["overrides"] == ["data.params.val_size=8"]
    assert snapshot(tiny_run / "eval_val") == plots                             # its plots too
    assert (tiny_run / entry["plots"] / "confusion_matrix.png").is_file()
    # the run's own split again (no overrides) is what replaces the run's own figure
    from visiontk import evaluate

    evaluate(tiny_run, "val")
    again = json.loads((tiny_run / "metrics.json").read_text())
    assert again["val"]["samples"] == own["val"]["samples"] and label in again["other_data"]
