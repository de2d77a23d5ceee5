import subprocess
import sys

import pytest

from visiontk.errors import ModelError
from visiontk.registry import Registry
from tests.conftest import ROOT


def test_register_get_alias_variant_and_suggestion():
    reg = Registry("thing", ModelError)

    @reg.register("alpha", aliases=("a1",), variant={"k": 2})
    def build(x, k=1):
        return x * k

    assert reg.get("ALPHA")(3) == 6 and reg.get("a1")(1) == 2
    assert reg.names() == ["alpha"] and "a1" in reg
    with pytest.raises(ModelError, match=r"unknown thing 'alpah' \(did you mean 'alpha'\?\)"):
        reg.get("alpah")
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("alpha", build)


def test_listing_and_checking_recipes_never_imports_tensorflow():
    code = ("import sys; from visiontk.catalog import populate; populate(); "
            "from visiontk.recipe import load_recipe; load_recipe('recipes/classify.yaml'); "
            "from visiontk.cli import load_commands; load_commands(); "
            "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; print(bad); "
            "sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
