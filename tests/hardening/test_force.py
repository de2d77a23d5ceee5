"""`train --force` / `launch --force` replace only a visiontk run (issue 17, point 1): never a folder
of the user's, the working directory, a parent of it, an empty output, a file, or a symbolic link to
a folder elsewhere. Each refusal is one line, exit 2, and every file is as it was. A real run is
still replaced."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import cli_in_process
from tests.hardening.builders_runs import META, laid_out_run, tiny_recipe_file, user_folder
from tests.hardening.harness import BadInput, cases_param, check_bad_input, snapshot
from visiontk.errors import RunError
from visiontk.run import is_run, place_run


def recipe_and(folder_maker):
    """make(): a tiny recipe in the sandbox, plus what `folder_maker(sandbox)` builds ({target})."""
    def make(box):
        return {"recipe": tiny_recipe_file(box, name="r.yaml"), "target": folder_maker(box)}
    return make


def symlink_to_a_run_outside(box):
    outside = laid_out_run(box.parent / "outside")       # a run, even: a link is never replaced
    os.symlink(outside, box / "link")
    return box / "link"


def meta_without_markers(box):
    folder = user_folder(box / "mine")
    (folder / "meta.json").write_text(json.dumps({"task": "classification"}))   # not visiontk's
    return folder


def a_file(box):
    (box / "notes.txt").write_text("keep me\n")
    return box / "notes.txt"


CASES = [
    BadInput("force_user_folder", recipe_and(lambda box: user_folder(box / "photos")),
             ["train", "{recipe}", "output={target}", "--force"], ["{target}", "not a visiontk run"]),
    BadInput("force_folder_with_a_foreign_meta_json", recipe_and(meta_without_markers),
             ["train", "{recipe}", "output={target}", "--force"], ["{target}", "not a visiontk run"]),
    BadInput("force_a_file", recipe_and(a_file),
             ["train", "{recipe}", "output={target}", "--force"], ["{target}", "not a visiontk run"]),
    BadInput("force_working_directory", recipe_and(lambda box: user_folder(box / "data")),
             ["train", "{recipe}", "output=.", "--force"], ["working directory"]),
    BadInput("force_parent_of_working_directory", recipe_and(lambda box: box),
             ["train", "{recipe}", "output=..", "--force"], ["contains the working directory"]),
    BadInput("force_empty_output", recipe_and(lambda box: user_folder(box / "data")),
             ["train", "{recipe}", "output=", "--force"], ["output"]),
    BadInput("force_blank_output", recipe_and(lambda box: user_folder(box / "data")),
             ["train", "{recipe}", "output=' '", "--force"], ["output"]),
    BadInput("force_symlink_to_a_folder_outside", recipe_and(symlink_to_a_run_outside),
             ["train", "{recipe}", "output={target}", "--force"], ["{target}", "symbolic link"]),
    BadInput("launch_force_user_folder", recipe_and(lambda box: user_folder(box / "photos")),
             ["launch", "--workers", "2", "{recipe}", "output={target}", "--force"],
             ["{target}", "not a visiontk run"]),
]


@pytest.mark.parametrize("case", cases_param(CASES))
def test_force_refuses_what_visiontk_did_not_write(case, sandbox, capfd):
    check_bad_input(case, sandbox, capfd)


def test_the_linked_run_outside_is_untouched(sandbox, capfd):
    case = next(c for c in CASES if c.id == "force_symlink_to_a_folder_outside")
    names = {}

    def make(box):
        names.update(case.make(box))
        names["outside"] = snapshot(box.parent / "outside")
        return names

    check_bad_input(BadInput(case.id, make, case.argv, case.needles), sandbox, capfd)
    assert snapshot(sandbox.parent / "outside") == names["outside"] != {}


@pytest.mark.parametrize("output", ["", "  "])
@pytest.mark.parametrize("force", [False, True])
def test_an_empty_output_is_refused_by_the_run_code_too(output, force, tmp_path, monkeypatch):
    """Whatever the recipe validation does, an empty output never reaches a folder (it would be `.`)."""
    monkeypatch.chdir(tmp_path)
    user_folder(tmp_path / "data")
    before = snapshot(tmp_path)
    with pytest.raises(RunError, match="output: the run folder is empty"):
        place_run(output, "task: classification\n", force=force)
    assert snapshot(tmp_path) == before


def test_runs_of_every_version_are_recognised_and_nothing_else(tmp_path):
    assert is_run(laid_out_run(tmp_path / "old"))               # recipe.yaml + meta.json, format 1
    assert is_run(laid_out_run(tmp_path / "unfinished", finished=False))
    assert not is_run(user_folder(tmp_path / "photos"))
    assert not is_run(meta_without_markers(tmp_path))
    assert not is_run(laid_out_run(tmp_path / "damaged", meta=b"{\"task\": \"classif"))
    assert not is_run(laid_out_run(tmp_path / "listed", meta=[META]))


@pytest.mark.slow
def test_a_real_run_is_still_replaced_with_force(tmp_path, capsys):
    recipe = tiny_recipe_file(tmp_path, tmp_path / "run")
    assert cli_in_process("train", recipe, capsys=capsys)[0] == 0
    run = tmp_path / "run"
    (run / "metrics.json").write_text("{}")                    # so the replacement shows
    (run / "stale.txt").write_text("from the replaced run")
    code, out, err = cli_in_process("train", recipe, "--force", capsys=capsys)
    assert code == 0, err
    assert json.loads((run / "metrics.json").read_text())["train"]["epochs_run"] == 1
    assert not (run / "stale.txt").exists()                     # the old run went as a whole
    assert not (tmp_path / "run-2").exists()
