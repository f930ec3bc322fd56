"""Fixtures of the integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import eir

DEMO = Path(__file__).resolve().parents[2] / "conf" / "lists" / "demo.csv"


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    """A store with the demo lists of `make run`, loaded by the real `eir load`."""
    db = tmp_path / "db"
    result = eir("load", DEMO, "--list", "black", "--source", "demo", "--db", db)
    assert result.returncode == 0, result.stderr
    return db
