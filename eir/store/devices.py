"""The device database's two tables in the list store, shared by both backends:

* ``device``: key the 8-digit TAC, value the packed record (:mod:`eir.devices.packing`);
* ``approved``: the approved-models list, a key per TAC or brand and model.

A load replaces a whole table in the caller's write transaction (:func:`replace_table`) and
records it in ``meta`` (:func:`record_load`): the table's generation (``generation:device``,
``generation:approved``: what the in-memory :class:`~eir.devices.record.DeviceIndex` is rebuilt
on), its count and source file, and one load history record (action ``devices`` or
``approved``). The list tables' counters, generation and content digest are not touched: the
device database has its own digest (:func:`device_digest`). A device's ``source`` (the kind of
file it came in) is not content: the digest and a load's comparison leave it out
(:func:`~eir.devices.packing.device_content`), so the same devices in another kind of file are
unchanged; the load history and the table's source tell the kind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Protocol

from eir.devices.packing import device_content
from eir.store.api import HandsetChange, LoadSummary
from eir.store.audit import audit_fields
from eir.store.records import CASES, CHANGES, META, Table

DEVICE = "device"
APPROVED = "approved"
#: the device database's tables (beside the list tables)
DEVICE_TABLES = (DEVICE, APPROVED)
#: every table of the list store, as both backends open them
STORE_TABLES = (
    Table.IMEI.value,
    Table.RANGE.value,
    Table.PAIR.value,
    Table.CLASS.value,
    META,
    *DEVICE_TABLES,
    CASES,
    CHANGES,
)
#: the history action of a load of each table
ACTION = {DEVICE: "devices", APPROVED: "approved"}


class DeviceTxn(Protocol):
    """What the device tables need of a transaction (both stores' adapters have it)."""

    def get(self, table: str, key: bytes) -> bytes | None: ...
    def put(self, table: str, key: bytes, value: bytes) -> None: ...
    def delete(self, table: str, key: bytes) -> None: ...
    def items(self, table: str, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]: ...


@dataclass(frozen=True, slots=True)
class DeviceStats:
    """What ``eir stats`` and ``eir devices stats`` tell of the device database."""

    devices: int
    approved: int
    #: BLAKE2b-256 over both tables, keys and values in key order ("" when both are empty),
    #: each device without its source
    digest: str
    #: the file (and kind) each table was last loaded from
    device_source: str
    approved_source: str
    device_generation: int
    approved_generation: int

    def json(self) -> dict[str, object]:
        return asdict(self)


def generation_key(table: str) -> bytes:
    return f"generation:{table}".encode()


def _meta_key(table: str, what: str) -> bytes:
    return f"{table}\x00{what}".encode()


def set_loaded(txn: DeviceTxn, table: str, count: int, source: str) -> None:
    """The table's count and source as a load records them (a snapshot's own load)."""
    txn.put(META, _meta_key(table, "count"), str(count).encode())
    txn.put(META, _meta_key(table, "source"), source.encode())


def replace_table(
    txn: DeviceTxn, table: str, items: list[tuple[bytes, bytes]], *, write: bool = True
) -> LoadSummary:
    """Make ``items`` (unique keys) the whole of ``table``; counts what changes. With
    ``write`` False (a dry run) only counts. A device whose content is unchanged is kept as it
    is, whatever kind of file it comes in now (its ``source`` is not content)."""
    old = {bytes(k): bytes(v) for k, v in txn.items(table)}
    summary = LoadSummary()
    same = _content(table)
    for key, value in items:
        before = old.pop(key, None)
        if before is not None and same(before) == same(value):
            summary.unchanged += 1
            continue
        if before is None:
            summary.added += 1
        else:
            summary.updated += 1
        if write:
            txn.put(table, key, value)
    summary.removed = len(old)
    if write:
        for key in old:
            txn.delete(table, key)
    return summary


def _content(table: str) -> Callable[[bytes], bytes]:
    """What of a stored value is content: a device without its source; an approved entry."""
    return device_content if table == DEVICE else bytes


def record_load(
    txn: DeviceTxn,
    table: str,
    summary: LoadSummary,
    *,
    count: int,
    source: str,
    files: list[str],
    stamp: int,
    change: HandsetChange | None = None,
) -> None:
    """The table's count, source, generation (when something changed) and history record
    (with ``change``'s audit: who, why, from where)."""
    txn.put(META, _meta_key(table, "count"), str(count).encode())
    txn.put(META, _meta_key(table, "source"), source.encode())
    if summary.added + summary.updated + summary.removed:
        key = generation_key(table)
        old = txn.get(META, key)
        txn.put(META, key, str((int(old) if old else 0) + 1).encode())
    seq_raw = txn.get(META, b"history-seq")
    seq = (int(seq_raw) if seq_raw else 0) + 1
    txn.put(META, b"history-seq", str(seq).encode())
    record = {
        "seq": seq,
        "time": stamp,
        "mode": "replace",
        "list": "",
        "source": source,
        "files": files,
        "added": summary.added,
        "updated": summary.updated,
        "removed": summary.removed,
        "unchanged": summary.unchanged,
        "invalid": summary.invalid,
        "duplicates": summary.duplicates,
        "action": ACTION[table],
    }
    if change is not None:
        record.update(audit_fields(change), action=ACTION[table])
    txn.put(META, b"history\x00%012d" % seq, json.dumps(record, sort_keys=True).encode())


def generations(txn: DeviceTxn) -> bytes:
    """Both tables' generations as one value: the in-memory index is rebuilt when it changes."""
    return b"/".join(txn.get(META, generation_key(t)) or b"0" for t in DEVICE_TABLES)


def device_digest(txn: DeviceTxn) -> str:
    """BLAKE2b-256 over both tables' keys and values, in key order ("" when both are empty):
    two stores holding the same device database have the same digest, whatever kind of file
    each loaded it from (a device's ``source`` is left out)."""
    digest = hashlib.blake2b(digest_size=32)
    empty = True
    for table in DEVICE_TABLES:
        digest.update(b"\x00table\x00" + table.encode())
        content = _content(table)
        parts: list[bytes] = []
        for key, value in txn.items(table):
            empty = False
            parts += (bytes(key), b"\x00", content(bytes(value)), b"\x00")
        digest.update(b"".join(parts))
    return "" if empty else digest.hexdigest()


def device_stats(txn: DeviceTxn, *, digest: bool = True) -> DeviceStats:
    """The figures of the device database (``digest=False``: no digest, which reads every
    record; "" in its place)."""

    def number(key: bytes) -> int:
        raw = txn.get(META, key)
        return int(raw) if raw else 0

    def text(key: bytes) -> str:
        raw = txn.get(META, key)
        return bytes(raw).decode() if raw else ""

    return DeviceStats(
        devices=number(_meta_key(DEVICE, "count")),
        approved=number(_meta_key(APPROVED, "count")),
        digest=device_digest(txn) if digest else "",
        device_source=text(_meta_key(DEVICE, "source")),
        approved_source=text(_meta_key(APPROVED, "source")),
        device_generation=number(generation_key(DEVICE)),
        approved_generation=number(generation_key(APPROVED)),
    )
