"""Recipe loading is bounded (issue 17, point 2): the 7- and 9-level YAML alias bombs (~300 bytes,
4.8 million and 387 million strings once expanded) are refused by `recipe check` in under 1 s and
under 200 MB, with one line naming the file and line.

Each check runs in its own interpreter. A first one checks a normal recipe and reports its peak
address space and resident size; each bomb then runs under RLIMIT_AS = that peak + 200 MB (the
loader of issue 17 needed 1.5 GB for 7 levels and exhausted 4 GB at 9), and reports its time and
peak resident size, which must also stay within 200 MB of the normal check's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, write_recipe
from tests.hardening.builders_recipe import alias_bomb, nested_bomb

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc")

MB = 1 << 20

# runs `visiontk recipe check PATH` in process, after the imports, under an optional address-space
# limit; prints {code, seconds, vm_peak, rss_peak} (bytes) as the last line of stdout
CHILD = r"""
import json, resource, sys, time
path, limit = sys.argv[1], int(sys.argv[2])
if limit:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from visiontk.cli import load_commands, main
load_commands()

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

t0 = time.perf_counter()
try:
    main(["recipe", "check", path])
    code = 0
except SystemExit as exc:
    code = exc.code
seconds = time.perf_counter() - t0
print(json.dumps({"code": code, "seconds": seconds, "vm_peak": status("VmPeak"),
                  "rss_peak": status("VmHWM")}))
"""


def run_check(path, limit: int = 0) -> tuple[dict, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(limit)], capture_output=True,
                         text=True, timeout=120, env=env, cwd=path.parent, stdin=subprocess.DEVNULL)
    assert out.stdout.strip(), f"no report (exit {out.returncode}):\n{out.stderr[-2000:]}"
    return json.loads(out.stdout.strip().splitlines()[-1]), [l for l in out.stderr.splitlines() if l.strip()]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """Peak address space and resident size of a normal `recipe check`."""
    path = write_recipe(tmp_path_factory.mktemp("normal") / "normal.yaml")
    report, err = run_check(path)
    assert report["code"] == 0, err
    return report


@pytest.mark.slow
@pytest.mark.parametrize("levels", [7, 9])
@pytest.mark.parametrize("where", ["top", "backbone_params"])
def test_alias_bomb_is_refused_fast_and_small(tmp_path, baseline, levels, where):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(levels) if where == "top" else nested_bomb(levels))
    assert path.stat().st_size < 600
    report, err = run_check(path, limit=baseline["vm_peak"] + 200 * MB)
    assert report["code"] == 2, err
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "YAML aliases expand" in err[0] and "bomb.yaml line" in err[0], err[0]
    assert report["seconds"] < 1.0, report
    assert report["rss_peak"] - baseline["rss_peak"] < 200 * MB, (report, baseline)
