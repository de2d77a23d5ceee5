"""`visiontk arch show`: the table, its JSON form, --compare-paper beside the seed's numbers, errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.cli.test_bad_input import assert_one_line_error
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def invoke():
    from visiontk.cli import cli, load_commands

    load_commands()
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(cli, ["arch", "show", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return run


def test_table_lists_layers_and_total(invoke):
    out = invoke("lenet5", "--input", "32,32,1", "--classes", "10")
    lines = out.splitlines()
    assert lines[0] == "lenet5: input 32x32x1 -> output 10"
    c1 = next(l for l in lines if l.startswith("c1 "))
    assert "28x28x6" in c1 and c1.split()[-1] == "156"          # 5*5*1*6 + 6
    assert lines[-1].split() == ["total", "61,706"]


def test_json_structure(invoke):
    table = json.loads(invoke("lenet5", "--input", "32,32,1", "--classes", "10", "--json"))
    assert table["total_params"] == 61_706
    assert [r["name"] for r in table["layers"]] == ["c1", "s2", "c3", "s4", "flatten", "c5", "f6",
                                                    "output"]
    assert all(set(r) == {"name", "output_shape", "params"} for r in table["layers"])
    assert sum(r["params"] for r in table["layers"]) == table["total_params"]
    assert table["layers"][0]["output_shape"] == [28, 28, 6]


def test_googlenet_compare_paper_per_module(invoke):
    out = invoke("googlenet", "--compare-paper")
    rows = {l.split()[0]: l.split() for l in out.splitlines()[3:] if l and not l.startswith("-")}
    # name, ours shape, ours params, paper shape, paper params, diff, diff %
    assert rows["inception_3a"] == ["inception_3a", "28x28x256", "163,696", "28x28x256", "159,000",
                                    "+4,696", "+3.0%"]
    assert rows["inception_4c"][2:] == ["510,104", "14x14x512", "463,000", "+47,104", "+10.2%"]
    assert rows["total"] == ["total", "6,998,552", "6,797,700", "+200,852", "+3.0%"]
    assert "seed 001 GoogLeNet table" in out.splitlines()[-1]
    assert "!" not in out                                   # every output size as in the seed


def test_googlenet_compare_paper_json(invoke):
    table = json.loads(invoke("googlenet", "--compare-paper", "--json"))
    assert table["input_shape"] == [224, 224, 3] and table["total_params"] == 6_998_552
    by_name = {r["name"]: r for r in table["layers"]}
    assert list(by_name)[4:6] == ["inception_3a", "inception_3b"]
    r = by_name["inception_5b"]
    assert (r["output_shape"], r["params"], r["paper_params"], r["params_diff"], r["shape_match"]) == \
        ([7, 7, 1024], 1_444_080, 1_388_000, 56_080, True)
    assert all(r["shape_match"] for r in table["layers"])
    assert table["paper"]["total_params"] == 6_797_700 and table["total_diff"] == 200_852


def test_compare_without_paper_and_unknown_name_fail_in_one_line():
    out = run_cli("arch", "show", "lenet5", "--compare-paper")
    assert_one_line_error(out, "lenet5", "no paper table", "googlenet")
    out = run_cli("arch", "show", "googlenett")
    assert_one_line_error(out, "unknown architecture 'googlenett'", "did you mean 'googlenet'")
    out = run_cli("arch", "show", "lenet5", "--input", "32,32")
    assert_one_line_error(out, "--input", "H,W,C")


def test_arch_list_names_googlenet_with_alias():
    out = run_cli("arch", "list", "--no-params", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert rows["googlenet"]["aliases"] == ["inception_v1"] and rows["googlenet"]["family"] == "googlenet"
    assert "params" not in rows["googlenet"]


def test_param_counts_are_built_once_then_cached(tmp_path):
    from visiontk.architectures.summary import _builder_key, cached_param_counts

    cache, built = tmp_path / "counts.json", []
    first = cached_param_counts(["lenet5", "mlp"], cache, on_build=built.append)
    assert first == {"lenet5": 61_706, "mlp": 535_818} and built == ["lenet5", "mlp"]
    assert cached_param_counts(["lenet5", "mlp"], cache, on_build=built.append) == first
    assert built == ["lenet5", "mlp"]                      # nothing built the second time
    stale = json.loads(cache.read_text())
    stale[_builder_key("lenet5").replace("|", "|0", 1)] = 1  # an older lenet5 builder: not used
    del stale[_builder_key("lenet5")]
    cache.write_text(json.dumps(stale))
    assert cached_param_counts(["lenet5"], cache, on_build=built.append) == {"lenet5": 61_706}
    assert built[-1] == "lenet5"


def test_arch_list_prints_the_cached_counts(tmp_path):
    from visiontk.architectures.summary import _builder_key
    from visiontk.catalog import ARCHITECTURES, populate

    populate()
    cache = tmp_path / "visiontk" / "param_counts.json"
    cache.parent.mkdir()
    cache.write_text(json.dumps({_builder_key(n): 1000 + i for i, n in enumerate(ARCHITECTURES.names())}))
    out = run_cli("arch", "list", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == len(ARCHITECTURES.names())
    # registration order depends on what this process imported first: find the line by name
    i = ARCHITECTURES.names().index("googlenet")
    assert ["googlenet", f"{1000 + i:,}"] in [line.split()[:2] for line in lines]


def cache_all_but(tmp_path, *left_out):
    """A count cache under tmp_path (as XDG_CACHE_HOME) holding every architecture but `left_out`."""
    from visiontk.architectures.summary import _builder_key
    from visiontk.catalog import ARCHITECTURES, populate

    populate()
    cache = tmp_path / "visiontk" / "param_counts.json"
    cache.parent.mkdir()
    cache.write_text(json.dumps({_builder_key(n): 1 for n in ARCHITECTURES.names()
                                 if n not in left_out}))
    return cache


def test_a_first_arch_list_says_it_is_building_when_piped(tmp_path, monkeypatch, capsys):
    """The first listing builds every network (a minute or more): not silent, even without a terminal
    (one line on stderr; stdout stays the listing)."""
    from tests.conftest import cli_in_process
    from visiontk.architectures.summary import _builder_key

    cache = cache_all_but(tmp_path, "lenet5", "mlp")           # the two quick ones to build
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    code, out, err = cli_in_process("arch", "list", capsys=capsys)
    assert code == 0, err
    assert err.strip() == (f"visiontk: building 2 architectures once to count their parameters "
                           f"(about 2 s each on 2 CPU cores; kept in {cache} for next time; "
                           f"--no-params lists at once)")
    assert any(line.split()[:2] == ["lenet5", "61,706"] for line in out.splitlines())
    assert json.loads(cache.read_text())[_builder_key("mlp")] == 535_818
    code, out, err = cli_in_process("arch", "list", capsys=capsys)
    assert code == 0 and err == ""                            # all cached: nothing to say


def test_a_first_arch_list_on_a_terminal_names_each_network(tmp_path, monkeypatch, capfd):
    from tests.conftest import cli_in_process
    from visiontk import progress

    cache_all_but(tmp_path, "lenet5", "mlp")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "240")
    monkeypatch.setattr(progress, "interactive", lambda: True)
    code, out, err = cli_in_process("arch", "list", capsys=capfd)
    assert code == 0, err
    assert "building 2 architectures once to count their parameters: lenet5" in err
    assert ": mlp" in err and "\x1b[" in err                   # a live bar, naming the network


def test_total_only_paper_with_rounding():
    # the shape of the VGG entries: no rows, a total given in millions
    from visiontk.architectures.summary import compare_with_paper, format_table

    table = {"name": "net", "input_shape": [224, 224, 3], "output_shape": [1000], "total_params":
             138_357_544, "layers": [{"name": "fc", "output_shape": [1000], "params": 138_357_544}]}
    paper = {"input_shape": (224, 224, 3), "num_classes": 1000, "rows": [],
             "total_params": 138_000_000, "total_rounding": 1_000_000, "source": "Table 2"}
    out = compare_with_paper(table, paper)
    assert out["total_diff"] == 357_544 and out["paper"]["total_within_rounding"] is True
    text = format_table(out)
    assert "paper shape" not in text                       # no per-row columns without rows
    assert text.splitlines()[-2].split() == ["total", "138,357,544", "paper", "138,000,000",
                                             "+357,544", "+0.3%"]
    assert "nearest 1,000,000 (within that rounding)" in text.splitlines()[-1]
    far = compare_with_paper({**table, "total_params": 139_600_000}, paper)
    assert far["paper"]["total_within_rounding"] is False
