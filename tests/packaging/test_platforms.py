"""`pip install visiontk` resolves to wheels on every platform it supports: pyproject.toml's
dependencies, with their markers evaluated for each target, resolved by pip for that platform and
Python (`--dry-run --only-binary=:all: --platform ... --python-version ...`: metadata only, nothing
installed). Needs the package index; without it the network tests are skipped, with the reason."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
import warnings
from dataclasses import dataclass

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import ROOT

tomllib = pytest.importorskip("tomllib")       # Python 3.11+

INDEX = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")


def manylinux(arch: str) -> list[str]:
    """glibc 2.17 to 2.28 (onnxruntime >= 1.17 publishes manylinux_2_27/2_28 wheels only); pip does
    not widen a manylinux_2_x tag to older ones by itself."""
    return [f"manylinux_2_{v}_{arch}" for v in range(28, 16, -1)] + [f"manylinux2014_{arch}"]


@dataclass(frozen=True)
class Platform:
    markers: dict          # the PEP 508 environment of that platform (python_* added per version)
    tags: tuple            # pip --platform values
    tensorflow: str        # the TensorFlow distribution the markers must pick there


def _env(sys_platform, system, machine, os_name="posix") -> dict:
    return {"sys_platform": sys_platform, "platform_system": system, "platform_machine": machine,
            "os_name": os_name, "implementation_name": "cpython",
            "platform_python_implementation": "CPython"}


PLATFORMS = {
    "linux-x86_64": Platform(_env("linux", "Linux", "x86_64"), tuple(manylinux("x86_64")),
                             "tensorflow-cpu"),
    "linux-aarch64": Platform(_env("linux", "Linux", "aarch64"), tuple(manylinux("aarch64")),
                              "tensorflow"),
    # macOS 13+: on macOS 12, Python 3.13 finds no onnxruntime wheel (3.10-3.12 resolve there too)
    "macos-arm64": Platform(_env("darwin", "Darwin", "arm64"), ("macosx_13_0_arm64",), "tensorflow"),
    "windows-amd64": Platform(_env("win32", "Windows", "AMD64", "nt"), ("win_amd64",),
                              "tensorflow-cpu"),
}
# Intel Macs: TensorFlow's last wheels there are 2.16 (numpy < 2); checked on one Python only.
INTEL_MAC = Platform(_env("darwin", "Darwin", "x86_64"), ("macosx_13_0_x86_64",), "tensorflow-cpu")
# The README lists these; Python 3.14 resolves only to a TensorFlow pre-release (refused below).
# VISIONTK_PLATFORM_PYTHONS=3.11 narrows the check (each version adds four resolutions, ~15 s).
PYTHONS = tuple(os.environ.get("VISIONTK_PLATFORM_PYTHONS", "3.10,3.11,3.12,3.13").split(","))
CASES = [(p, v) for v in PYTHONS for p in PLATFORMS] + [("macos-x86_64", "3.11")]


def project() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def requirements_for(platform: Platform, python: str) -> list[Requirement]:
    """pyproject.toml's dependencies that apply on `platform` under `python`, markers removed."""
    env = {**platform.markers, "python_version": python, "python_full_version": f"{python}.0"}
    out = []
    for text in project()["dependencies"]:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate(env):
            req.marker = None
            out.append(req)
    return out


def platform_of(name: str) -> Platform:
    return INTEL_MAC if name == "macos-x86_64" else PLATFORMS[name]


@pytest.mark.parametrize("name", [*PLATFORMS, "macos-x86_64"])
def test_markers_pick_one_tensorflow_per_platform(name):
    platform = platform_of(name)
    names = [canonicalize_name(r.name) for r in requirements_for(platform, "3.11")]
    assert [n for n in names if n.startswith("tensorflow")] == [platform.tensorflow]
    assert len(names) == len(project()["dependencies"]) - 1                 # only TF has a marker
    assert project()["optional-dependencies"]["gpu"] == ["tensorflow[and-cuda]>=2.16"]


def index_problem() -> str | None:
    """Why the package index cannot be used (None when it answers within 10 s)."""
    try:
        with urllib.request.urlopen(f"{INDEX}/pip/", timeout=10) as response:
            response.read(1)
    except Exception as exc:  # any failure (DNS, proxy, TLS, HTTP status) means no resolution here
        return f"{INDEX} unreachable ({type(exc).__name__}: {exc})"
    return None


def resolve(platform: Platform, python: str) -> tuple[int, dict, str]:
    """pip's resolution of the platform's requirements: (exit code, --report JSON, stderr)."""
    # this machine's pip configuration (extra indexes, find-links, constraints) stays out: the
    # question is what the index offers everybody
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.update({k: os.environ[k] for k in ("PIP_CERT", "PIP_CACHE_DIR") if k in os.environ})
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
               "--only-binary=:all:", "--python-version", python, "--target", tmp,
               "--index-url", INDEX, "--report", report, "--quiet"]
        for tag in platform.tags:
            cmd += ["--platform", tag]
        cmd += [str(r) for r in requirements_for(platform, python)]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        data = json.load(open(report)) if done.returncode == 0 else {}
    return done.returncode, data, done.stderr


@pytest.fixture(scope="module")
def resolutions():
    """Every case resolved once, four pip processes at a time (they mostly wait for the index)."""
    problem = index_problem()
    if problem:
        warnings.warn(f"platform resolution not checked: {problem}")
        pytest.skip(f"platform resolution not checked: {problem}")
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = {case: pool.submit(resolve, platform_of(case[0]), case[1]) for case in CASES}
        return {case: f.result() for case, f in futures.items()}


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("name,python", CASES)
def test_dependencies_resolve_to_wheels(name, python, resolutions):
    code, report, stderr = resolutions[(name, python)]
    assert code == 0, f"{name}, Python {python}: " + " | ".join(stderr.strip().splitlines()[-3:])
    installed = {canonicalize_name(item["metadata"]["name"]): item for item in report["install"]}
    for req in requirements_for(platform_of(name), python):
        assert canonicalize_name(req.name) in installed, (name, python, req.name)
    for pkg, item in installed.items():
        version = Version(item["metadata"]["version"])
        assert not version.is_prerelease, f"{name}, Python {python}: only a pre-release of {pkg}"
        assert item["download_info"]["url"].split("#")[0].endswith(".whl"), (name, python, pkg)
