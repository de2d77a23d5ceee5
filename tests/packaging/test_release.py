"""Release hygiene: one version (visiontk/version.py) everywhere, the changelog, the licence, the
metadata PyPI shows; and the wheel itself carries the recipes and the runner and runs from them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT, run_cli
from tests.packaging.test_platforms import PYTHONS, index_problem
from visiontk.version import __version__

tomllib = pytest.importorskip("tomllib")


def pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def test_the_version_has_one_source():
    data = pyproject()
    assert "version" not in data["project"] and "version" in data["project"]["dynamic"]
    assert data["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "visiontk.version.__version__"}
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"visiontk, version {__version__}"


def test_changelog_licence_and_metadata():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## Unreleased" in changelog and f"## {__version__}" in changelog
    licence = (ROOT / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    assert "END OF TERMS AND CONDITIONS" in licence
    project = pyproject()["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert {"Homepage", "Source", "Issues", "Changelog"} <= set(project["urls"])
    versions = {c.rsplit(" :: ", 1)[1] for c in project["classifiers"]
                if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)}
    assert versions == set(PYTHONS) and project["requires-python"] == f">={min(PYTHONS)}"


@pytest.mark.network
@pytest.mark.slow
def test_the_wheel_carries_the_recipes_and_the_runner(tmp_path):
    """Built from a copy of the sources (build isolation fetches setuptools), installed with
    --target, run from elsewhere: the recipes and the runner come from the wheel."""
    pytest.importorskip("build")
    problem = index_problem()
    if problem:
        pytest.skip(f"wheel not built: {problem}")
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "runs", "*.pyc")
    for name in ("visiontk", "recipes"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    (src / "export").mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE", "export/onnx_predict.py"):
        shutil.copy2(ROOT / name, src / name)
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", tmp_path / "dist",
                            src], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("visiontk-*.whl")
    assert wheel.name.startswith(f"visiontk-{__version__}-py3-none-any")
    names = set(zipfile.ZipFile(wheel).namelist())
    recipes = sorted(p.name for p in (ROOT / "recipes").glob("*.yaml"))
    assert {f"visiontk/_recipes/{r}" for r in recipes} <= names
    assert "visiontk/_runner/onnx_predict.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)

    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                    target, wheel], check=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}     # ahead of this checkout's editable install
    probe = subprocess.run([sys.executable, "-c", "import visiontk.shipped as s; "
                            "print(s.recipes_dir()); print(s.runner_path())"],
                           capture_output=True, text=True, cwd=elsewhere, env=env, timeout=120)
    assert probe.stdout.split() == [str(target / "visiontk" / "_recipes"),
                                    str(target / "visiontk" / "_runner" / "onnx_predict.py")]
    listed = run_cli("recipes", "list", cwd=elsewhere, env={"PYTHONPATH": str(target)})
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == len(recipes) + 1
    checked = run_cli("recipe", "check", "detect", cwd=elsewhere, env={"PYTHONPATH": str(target)})
    assert checked.returncode == 0, checked.stderr
    assert f"the shipped recipe {target / 'visiontk' / '_recipes' / 'detect.yaml'}" in checked.stderr
