"""A list update carries the ``class`` table: its groups and its scope travel (``EIRU3``), a
node applies them as the aggregator did, and a node that predates the class table refuses the
update by its magic rather than replace a list source named like the class."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from eir.model import ListName, StoreClass
from eir.publish.update import (
    MAGIC,
    MAGIC_CLASSES,
    MAGIC_DIGITS,
    UpdateError,
    UpdateMeta,
    decode_update,
    encode_update,
    scope_items,
)
from eir.store.api import ClassScope, Mode
from eir.store.classes import ClassRow, class_batch, class_rows, class_scope
from eir.store.memory import MemoryStore
from tests.unit.publish.test_distribution import batch_of, meta

DUP = StoreClass.DUPLICATE
A1, A2 = "35693803564380", "49015420323751"


def _class_meta() -> UpdateMeta:
    return meta(
        mode="replace", list="grey", source="duplicate", scope=scope_items(class_scope(DUP))
    )


def test_a_class_travels_and_is_applied_as_sent() -> None:
    rows = [ClassRow(A1, "dirbs", '{"average":4.2,"days":12}', 1_700_000_100)]
    blob = encode_update(class_batch(DUP, rows), _class_meta())
    assert zlib.decompress(blob).startswith(MAGIC_CLASSES)
    # what a node that predates the class table accepts (EIRU1, EIRU2): not this
    assert not zlib.decompress(blob).startswith((MAGIC, MAGIC_DIGITS))
    decoded_meta, batch = decode_update(blob)
    assert decoded_meta.scope == [("grey", "duplicate", "class")]
    (owner,) = decoded_meta.owners()
    assert isinstance(owner, ClassScope) and owner == (ListName.GREY, "duplicate")
    store = MemoryStore()
    store.apply(batch, Mode(decoded_meta.mode), decoded_meta.owners(), now=decoded_meta.time)
    assert class_rows(store, DUP) == rows


def test_an_empty_class_still_says_class(tmp_path: Path) -> None:
    """No duplicates left: an update with no group that empties the class, never read as a
    replace of the grey list's source ``duplicate``."""
    blob = encode_update(class_batch(DUP, []), _class_meta())
    assert zlib.decompress(blob).startswith(MAGIC_CLASSES)
    store = MemoryStore()
    grey = ListName.GREY
    store.apply(batch_of(tmp_path, f"{A2}\n", grey, "duplicate"), Mode.ADD, [(grey, "duplicate")])
    store.apply(class_batch(DUP, [ClassRow(A1, "dirbs", "{}", 0)]), Mode.REPLACE, class_scope(DUP))
    decoded_meta, batch = decode_update(blob)
    store.apply(batch, Mode.REPLACE, decoded_meta.owners(), now=decoded_meta.time)
    assert class_rows(store, DUP) == []
    assert store.lookup(A2, None).imei[0].entry.source == "duplicate"


def test_a_list_update_keeps_its_magic(tmp_path: Path) -> None:
    blob = encode_update(batch_of(tmp_path), meta())
    head = zlib.decompress(blob)
    assert not head.startswith(MAGIC_CLASSES)
    assert json.loads(head[6 : head.index(b"\n", 6)])["scope"] == [["black", "police"]]


def test_a_bad_scope_item_is_refused(tmp_path: Path) -> None:
    for item in (("grey", "duplicate", "klass"), ("grey",), ("pink", "duplicate", "class")):
        blob = encode_update(batch_of(tmp_path), meta(scope=[item]))
        with pytest.raises(UpdateError, match="the update's description is not valid"):
            decode_update(blob)
