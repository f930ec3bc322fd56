"""Load history records: those written before block/unblock (issue 15) still read."""

from __future__ import annotations

import json

from eir.store.api import HistoryRecord, history_dict, history_of

OLD = {
    "seq": 3,
    "time": 1_790_000_000,
    "mode": "replace",
    "list": "black",
    "source": "police-hcm",
    "files": ["police.csv"],
    "added": 10,
    "updated": 1,
    "removed": 2,
    "unchanged": 7,
    "invalid": 0,
    "duplicates": 0,
}


def test_a_record_without_the_new_fields_reads_with_their_defaults() -> None:
    record = history_of(json.dumps(OLD).encode())
    assert record == HistoryRecord(**OLD)  # type: ignore[arg-type]
    assert (record.action, record.imeis, record.by, record.reason, record.reference) == (
        "load",
        [],
        "",
        "",
        "",
    )
    assert record.missing == 0


def test_a_block_record_reads_back() -> None:
    data = OLD | {
        "action": "block",
        "imeis": ["490154203237518"],
        "by": "an",
        "reason": "stolen",
        "reference": "HCM-1",
        "missing": 0,
        "later": "a field of a newer version is ignored",
    }
    record = history_of(json.dumps(data).encode())
    later = {"origin": "", "node": "", "case": "", "update": 0, "restores": 0}
    assert history_dict(record) == {k: v for k, v in data.items() if k != "later"} | later
