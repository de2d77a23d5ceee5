"""The shipped recipes: `visiontk recipes list / show / copy`, and a bare name (`visiontk train
detect`) for train, recipe check and launch, resolved in one place (visiontk.shipped.resolve_recipe)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT, cli_in_process, write_recipe
from visiontk.errors import RecipeError

SHIPPED = sorted(p.stem for p in (ROOT / "recipes").glob("*.yaml"))


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working directory outside the checkout (no recipes/ folder)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_every_recipe_has_a_description_and_a_time(capsys):
    """The first comment line is a one-line description; `# time here:` a figure or '?'."""
    from visiontk.shipped import recipes

    assert [r.name for r in recipes()] == SHIPPED and len(SHIPPED) >= 20
    for r in recipes():
        first = r.path.read_text().splitlines()[0]
        assert first == f"# {r.description}" and 20 <= len(first) <= 100, r.name
        assert r.time and r.time != "?", r.name      # a figure, or '? (why)' saying why there is none
        raw = yaml.safe_load(r.path.read_text())
        assert (r.task, r.data) == (raw["task"], raw["data"]["source"])


def test_recipes_list_shows_every_shipped_recipe(elsewhere, capsys):
    code, out, err = cli_in_process("recipes", "list", capsys=capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["name", "task", "data"] and len(lines) == len(SHIPPED) + 1
    for name, line in zip(SHIPPED, lines[1:]):
        assert line.split()[0] == name
    detect = next(line for line in lines if line.startswith("detect "))
    assert "detection" in detect and "synthetic-scenes" in detect and "2 min 29 s" in detect
    code, out, _ = cli_in_process("recipes", "list", "--json", capsys=capsys)
    rows = json.loads(out)
    assert [r["name"] for r in rows] == SHIPPED
    assert {"task", "data", "time", "description", "path"} <= set(rows[0])


def test_recipes_show_prints_the_file(elsewhere, capsys):
    code, out, err = cli_in_process("recipes", "show", "detect", capsys=capsys)
    assert code == 0, err
    assert out == (ROOT / "recipes" / "detect.yaml").read_text()
    code, _, err = cli_in_process("recipes", "show", "detcet", capsys=capsys)
    assert code == 2 and "detect" in one_error_line(err)


def test_recipes_copy_writes_a_copy_and_never_replaces_one(elsewhere, capsys):
    source = (ROOT / "recipes" / "segment.yaml").read_bytes()
    code, out, err = cli_in_process("recipes", "copy", "segment", capsys=capsys)
    assert code == 0, err
    assert (elsewhere / "segment.yaml").read_bytes() == source and "segment.yaml" in out
    code, _, err = cli_in_process("recipes", "copy", "segment", "mine/new", capsys=capsys)
    assert code == 0 and (elsewhere / "mine" / "new" / "segment.yaml").read_bytes() == source
    (elsewhere / "segment.yaml").write_text("# edited\n")
    code, _, err = cli_in_process("recipes", "copy", "segment", ".", capsys=capsys)
    assert code == 2 and "exists" in one_error_line(err) and "segment.yaml" in err
    assert (elsewhere / "segment.yaml").read_text() == "# edited\n"


def test_a_bare_name_checks_the_shipped_recipe(elsewhere, capsys):
    code, out, err = cli_in_process("recipe", "check", "detect", "train.epochs=2", capsys=capsys)
    assert code == 0, err
    shipped = str(ROOT / "recipes" / "detect.yaml")
    assert err.strip() == f"visiontk: recipe 'detect': the shipped recipe {shipped}"
    assert out.startswith(f"ok: {shipped} (task detection") and "output runs/detect" in out
    code, _, err = cli_in_process("recipe", "check", "detect.yaml", capsys=capsys)
    assert code == 0 and "the shipped recipe" in err


def test_a_file_here_wins_over_the_shipped_recipe(elsewhere, capsys):
    write_recipe(elsewhere / "detect")                        # a file named exactly as given
    code, out, err = cli_in_process("recipe", "check", "detect", capsys=capsys)
    assert code == 0 and out.startswith("ok: detect (task classification") and err == ""
    (elsewhere / "detect").unlink()
    write_recipe(elsewhere / "detect.yaml")                   # a copy to edit (recipes copy)
    code, out, err = cli_in_process("recipe", "check", "detect", capsys=capsys)
    assert code == 0 and out.startswith("ok: detect.yaml (task classification"), err
    assert "using ./detect.yaml" in err


def test_an_unknown_name_gets_the_closest_names(elsewhere, capsys):
    for command in (["train"], ["recipe", "check"], ["launch"]):
        code, out, err = cli_in_process(*command, "detcet", capsys=capsys)
        line = one_error_line(err)
        assert code == 2 and "detcet" in line and "closest: detect" in line, (command, line)
    code, _, err = cli_in_process("train", "recipes/detect.yaml", capsys=capsys)
    assert code == 2 and "give its bare name, detect" in one_error_line(err)


@pytest.mark.parametrize("command", [["train"], ["launch", "--workers", "2"]])
def test_train_and_launch_take_a_bare_name(command, elsewhere, capsys, monkeypatch):
    """The shipped file reaches the loader (and launch's workers); nothing trains here."""
    import importlib

    import visiontk.recipe

    launcher = importlib.import_module("visiontk.train.launch")    # visiontk.train is the function
    seen = []

    def load(path, overrides=()):
        seen.append(("load", path, tuple(overrides)))
        if command[0] == "train":
            raise RecipeError("stopped by the test")

    def launch(recipe, overrides, workers, **kwargs):
        seen.append(("launch", recipe, tuple(overrides)))
        return 0

    monkeypatch.setattr(visiontk.recipe, "load_recipe", load)
    monkeypatch.setattr(launcher, "launch", launch)
    code, _, err = cli_in_process(*command, "count", "train.epochs=1", capsys=capsys)
    shipped = str(ROOT / "recipes" / "count.yaml")
    assert f"the shipped recipe {shipped}" in err
    if command[0] == "train":
        assert code == 2 and seen == [("load", shipped, ("train.epochs=1",))]
    else:
        assert code == 0 and seen[-1] == ("launch", shipped, ("train.epochs=1",))



def test_listing_and_resolving_recipes_never_imports_tensorflow(tmp_path):
    code = ("import sys; from visiontk.cli import main\n"
            "for argv in (['recipes', 'list'], ['recipes', 'show', 'count'], ['recipe', 'check', 'count']):\n"
            "    try: main(argv)\n"
            "    except SystemExit as exc: assert not exc.code, (argv, exc.code)\n"
            "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
            "sys.exit(f'imported {bad}' if bad else 0)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
