"""`eir serve` refuses a store that does not exist (issue 15, item 6): a mistyped ``--db`` must
not serve an empty store, in which every stolen phone is white. ``--create`` or
``store.create = true`` serve an empty one on purpose."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import eir
from tests.support.diameter import serve
from tests.support.logs import said


def test_serve_refuses_a_missing_store(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong" / "path"
    result = eir("serve", "--db", wrong, "--diameter-listen", "127.0.0.1:0")
    assert result.returncode == 1
    assert [said(line) for line in result.stderr.splitlines()] == [
        f"eir: {wrong}: no list store here (create one with `eir load`, or serve an empty one "
        "with --create)"
    ]
    assert not (tmp_path / "wrong").exists()
    result = eir("serve", "--db", wrong, "--workers", "2")
    assert result.returncode == 1
    assert said(result.stderr).startswith(f"eir: {wrong}: no list store here (")


def test_serve_creates_an_empty_store_when_told(tmp_path: Path) -> None:
    with serve(tmp_path / "new", "--create") as served:
        assert f"eir: serving lists from {tmp_path / 'new'} (no entries)" in served.lines
    config = tmp_path / "eir.toml"
    config.write_text("[store]\ncreate = true\n")
    with serve(tmp_path / "other", "--config", str(config)) as served:
        assert f"eir: serving lists from {tmp_path / 'other'} (no entries)" in served.lines
    assert eir("stats", "--db", tmp_path / "other").returncode == 0
