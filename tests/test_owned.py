"""check_replaceable: only what visiontk wrote, never the working directory, home, / or a link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from visiontk.errors import VisionTKError
from visiontk.owned import check_replaceable, remove_replaceable


def ours(p: Path) -> bool:
    return (p / "marker").is_file()


@pytest.mark.parametrize("which", ["cwd", "parent", "root", "home", "empty", "blank"])
def test_protected_places_are_refused(tmp_path, monkeypatch, which):
    work = tmp_path / "a" / "work"
    work.mkdir(parents=True)
    (work / "marker").write_text("")          # even with a marker
    monkeypatch.chdir(work)
    target = {"cwd": ".", "parent": "..", "root": "/", "home": str(Path.home()), "empty": "",
              "blank": "  "}[which]
    with pytest.raises(VisionTKError):
        check_replaceable(target, what="a run", is_ours=lambda p: True)


def test_foreign_folder_refused_ours_replaced(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"x")
    with pytest.raises(VisionTKError, match="not a visiontk run"):
        remove_replaceable(foreign, what="a visiontk run", is_ours=ours)
    assert (foreign / "cat.jpg").exists()
    mine = tmp_path / "run"
    mine.mkdir()
    (mine / "marker").write_text("")
    remove_replaceable(mine, what="a visiontk run", is_ours=ours)
    assert not mine.exists()
    check_replaceable(tmp_path / "absent", what="a run", is_ours=ours)       # absent: fine


def test_symlink_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "marker").write_text("")
    link = tmp_path / "link"
    os.symlink(outside, link)
    with pytest.raises(VisionTKError, match="symbolic link"):
        remove_replaceable(link, what="a run", is_ours=ours)
    assert (outside / "marker").exists()
