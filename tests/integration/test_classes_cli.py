"""The ``class`` table through the real ``eir``: ``lookup`` shows every class of an IMEI with
its rule, figures and time and which one decided, ``stats`` counts them, ``export`` leaves
them out of the list file it writes and ``export --classes`` writes them apart."""

from __future__ import annotations

import json
from pathlib import Path

from eir.model import StoreClass
from eir.store.api import Mode
from eir.store.classes import ClassRow, class_batch, class_scope
from eir.store.lmdb_store import LmdbStore
from tests.support.cli import eir

A1, A2 = "490154203237518", "356938035643809"
FIGURES = '{"average":4.2,"days":12}'
FOUND = 1_780_000_000  # 2026-05-28T20:26:40Z


def _classes(db: Path, *rows: ClassRow) -> None:
    store = LmdbStore(db, map_size_mb=16)
    try:
        dup = StoreClass.DUPLICATE
        store.apply(class_batch(dup, rows), Mode.REPLACE, class_scope(dup), now=FOUND)
    finally:
        store.close()


def test_lookup_shows_the_classes(tmp_path: Path) -> None:
    db = tmp_path / "db"
    listed = tmp_path / "black.txt"
    listed.write_text(f"{A2}\n")
    assert eir("load", listed, "--list", "black", "--source", "police", "--db", db).returncode == 0
    _classes(db, ClassRow(A1[:14], "dirbs", FIGURES, 0), ClassRow(A2[:14], "dirbs", "{}", 0))
    result = eir("lookup", A1, "--db", db)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{A1}: greylisted",
        f"  why: class: duplicate (dirbs: {FIGURES})",
        "  anomalies: none",
        f"  class: duplicate (rule dirbs, {FIGURES}, found 2026-05-28T20:26:40Z), decided",
    ]
    data = json.loads(eir("lookup", A1, "--json", "--db", db).stdout)
    assert (data["answer"], data["rule"]) == ("greylisted", "class")
    assert data["classes"] == [
        {
            "class": "duplicate",
            "rule": "dirbs",
            "figures": {"average": 4.2, "days": 12},
            "found": "2026-05-28T20:26:40Z",
            "decided": True,
        }
    ]
    # a listed IMEI keeps its listed answer; its class is shown, not deciding
    result = eir("lookup", A2, "--db", db)
    assert result.stdout.splitlines()[0] == f"{A2}: blacklisted"
    assert result.stdout.splitlines()[-1] == (
        "  class: duplicate (rule dirbs, {}, found 2026-05-28T20:26:40Z)"
    )


def test_policy_classes_sets_the_answer(tmp_path: Path) -> None:
    db = tmp_path / "db"
    _classes(db, ClassRow(A1[:14], "dirbs", FIGURES, 0))
    config = tmp_path / "eir.toml"
    config.write_text('[policy.classes]\nduplicate = "black"\n')
    result = eir("lookup", A1, "--config", config, "--db", db)
    assert result.stdout.splitlines()[0] == f"{A1}: blacklisted"
    config.write_text('[policy.classes]\nduplicate = "ignore"\n')
    result = eir("lookup", A1, "--config", config, "--db", db)
    assert result.stdout.splitlines()[:2] == [f"{A1}: whitelisted", "  why: unknown: on no list"]
    assert result.stdout.splitlines()[-1].startswith("  class: duplicate (rule dirbs")


def test_stats_count_and_export_leaves_them_out(tmp_path: Path) -> None:
    db = tmp_path / "db"
    _classes(db, ClassRow(A1[:14], "dirbs", FIGURES, 0))
    data = json.loads(eir("stats", "--json", "--db", db).stdout)
    assert data["entries"] == {"class/grey/duplicate": 1}
    assert (data["lists"], data["tables"], data["classes"]) == ({}, {"class": 1}, {"duplicate": 1})
    assert "per class: duplicate 1" in eir("stats", "--db", db).stdout.splitlines()
    exported = eir("export", "--db", db).stdout
    assert exported.splitlines() == ["imei,imei_last,imsi,list,source,reason,reference,added"]
    classes = eir("export", "--classes", "--db", db).stdout
    assert classes.splitlines() == [
        "imei,class,rule,figures,found",
        f'{A1[:14]},duplicate,dirbs,"{{""average"":4.2,""days"":12}}",2026-05-28T20:26:40Z',
    ]
    assert eir("export", "--classes", "--source", "other", "--db", db).stdout.splitlines() == [
        "imei,class,rule,figures,found"
    ]
