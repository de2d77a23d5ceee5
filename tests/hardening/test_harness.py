"""The harness itself catches what it must: a second stderr line, a changed file, a wrong code."""

from __future__ import annotations

import pytest

from tests.hardening.harness import BadInput, check_bad_input, snapshot


def test_snapshot_sees_content_and_new_files(tmp_path):
    (tmp_path / "a").write_text("1")
    before = snapshot(tmp_path)
    (tmp_path / "a").write_text("2")
    assert snapshot(tmp_path)["a"] != before["a"]
    (tmp_path / "d").mkdir()
    assert "d" in snapshot(tmp_path)


def test_harness_fails_on_a_command_that_succeeds(sandbox, capfd):
    case = BadInput("ok", lambda box: {}, ["--version"], [])
    with pytest.raises(AssertionError, match="exit 0"):
        check_bad_input(case, sandbox, capfd)


def test_harness_accepts_a_one_line_error(sandbox, capfd):
    case = BadInput("missing", lambda box: {"r": box / "nope.yaml"}, ["recipe", "check", "{r}"],
                    ["nope.yaml"])
    assert check_bad_input(case, sandbox, capfd).startswith("error: recipe file not found")
