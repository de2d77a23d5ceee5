"""Fixtures of the bad-input regression suite."""

from __future__ import annotations

import pytest


@pytest.fixture
def sandbox(tmp_path):
    """An empty folder that is the command's working directory (tmp_path/sandbox)."""
    box = tmp_path / "sandbox"
    box.mkdir()
    return box
