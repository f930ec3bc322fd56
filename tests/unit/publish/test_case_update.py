"""A theft case action as a restore update, sans broker, against LMDB: the case record checked
on decode with the case table's parser, the update checked against its description, and a
node's entries of other sources kept when it applies one."""

from __future__ import annotations

from pathlib import Path

import pytest

from eir.model import ListName
from eir.publish.apply_update import apply_update
from eir.publish.case_update import case_records
from eir.publish.restore_update import RestoreUpdate, decode_blob, encode_restore
from eir.publish.update import UpdateError, encode_update
from eir.store.cases import CaseImei, case_key, opened, pack_case, unpack_case
from eir.store.lmdb_store import LmdbStore
from eir.store.records import CASES, Table, entries_of, pack_entry
from tests.unit.publish.test_distribution import PREFIX, batch_of, meta

KEY = b"35693803564380"
CASE = opened("C-1", (CaseImei("356938035643809", KEY.decode(), 9),), (), "stolen", "ann", "", 7)


def case_blob(seq: int, records: list[tuple[str, bytes, bytes | None]], **kw: object) -> bytes:
    described = meta(seq, action="case-open", reference="C-1", source="case", **kw)
    return encode_restore(RestoreUpdate(records), described)


def test_a_damaged_case_record_refuses_the_update() -> None:
    with pytest.raises(UpdateError, match="a damaged record"):
        decode_blob(case_blob(2, [(CASES, b"C-1", b'{"reference": "C-1"}')]))
    with pytest.raises(UpdateError, match="under another case's key"):
        decode_blob(case_blob(2, [(CASES, b"C-2", pack_case(CASE))]))


def test_a_node_applies_the_case_entries_and_keeps_its_other_sources(tmp_path: Path) -> None:
    store = LmdbStore(tmp_path / "db", map_size_mb=8)
    try:
        assert apply_update(store, PREFIX, 1, encode_update(batch_of(tmp_path), meta(1)))[1]
        grey = pack_entry(ListName.GREY, "case", "stolen", "C-1", 7)
        forged = [(Table.IMEI.value, KEY, pack_entry(ListName.BLACK, "police", "x", "y", 7))]
        with pytest.raises(UpdateError, match="not of case"):
            apply_update(
                store, PREFIX, 2, case_blob(2, [*forged, (CASES, b"C-1", pack_case(CASE))])
            )
        records = case_records([(Table.IMEI, KEY, grey)], CASE, "case")
        assert apply_update(store, PREFIX, 2, case_blob(2, records))[1] is not None
        view = store.snapshot()
        try:
            raw = view.get(Table.IMEI, KEY)
            assert raw is not None
            held = {(e.list, e.source) for e in entries_of(bytes(raw))}
            case = unpack_case(bytes(view.get(CASES, case_key("C-1")) or b""))
        finally:
            view.release()
        assert (ListName.GREY, "case") in held and (ListName.BLACK, "police") in held
        assert case.steps[-1].version == 2  # the node's own version
        last = store.stats().history[-1]
        assert (last.action, last.case, last.imeis, last.origin) == (
            "case-open", "C-1", ["356938035643809"], "update",
        )  # fmt: skip
    finally:
        store.close()
