"""Read-side helpers shared by the LMDB store and its in-memory twin: export, digest, counters."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Protocol

from eir.identity import luhn_digit
from eir.model import ListName
from eir.store.api import ExportRow, HistoryRecord, history_of
from eir.store.records import (
    LIST_TABLES,
    META,
    TIMED,
    Table,
    canonical_record,
    is_single_entry,
    split_key,
    unpack_record,
)

_DIGIT_TEXT = "0123456789"


class ReadTxn(Protocol):
    def get(self, table: str, key: bytes) -> bytes | None: ...
    def items(self, table: str, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]: ...


def imei_as(key: str, digit: int | None, digits: int | None = None) -> str:
    """An entry's 14-digit IMEI ``key`` as ``eir export`` writes it: ``digits`` None: as it
    was loaded (with its check digit ``digit``, even a wrong one, when it had one); 14: the
    key alone; 15: with its check digit (the Luhn digit computed when none was loaded)."""
    if digits == 14:
        return key
    if digit is not None:
        return key + _DIGIT_TEXT[digit]
    return key + luhn_digit(key) if digits == 15 else key


def last_as(last: str, fifteen: bool) -> str:
    """A range's last IMEI: 14 digits, or 15 with its Luhn digit when its first is written so."""
    return last + luhn_digit(last) if fifteen else last


def export_rows(
    txn: ReadTxn, list_name: ListName | None, source: str | None, classes: bool = False
) -> Iterator[ExportRow]:
    """The list tables' entries (of ``list_name`` and ``source`` when given); with
    ``classes``, the ``class`` table's instead."""
    for table in (Table.CLASS,) if classes else LIST_TABLES:
        for key, record in txn.items(table):
            imei, last, imsi = split_key(table, key)
            for entry in unpack_record(record):
                if list_name is not None and entry.list is not list_name:
                    continue
                if source is not None and entry.source != source:
                    continue
                yield ExportRow(table, imei, last, imsi, entry)


def has_times(txn: ReadTxn) -> bool:
    """Whether any entry of the list tables has times (``effective`` or ``expires``)."""
    for table in LIST_TABLES:
        for _, record in txn.items(table):
            if record[0] < TIMED and is_single_entry(record):
                continue  # one entry without times: nothing decoded
            if any(e.effective or e.expires for e in unpack_record(record)):
                return True
    return False


def content_digest(txn: ReadTxn) -> str:
    """BLAKE2b-256 over every table's keys and canonical records, in key order.

    ``added`` times are left out, so two stores holding the same entries have the same digest
    whenever and in whatever order the entries were loaded. The ``class`` table counts only
    when it holds something: a store without classes keeps the digest it had before them.
    """
    digest = hashlib.blake2b(digest_size=32)
    for table in Table:
        if table is Table.CLASS and next(iter(txn.items(table)), None) is None:
            continue
        digest.update(b"\x00table\x00" + table.encode())
        parts: list[bytes] = []
        for key, record in txn.items(table):
            # key NUL canonical NUL, hashed a few thousand at a time (one call per part is slow)
            if is_single_entry(record):
                parts += (key, b"\x00", record[:1], record[5:], b"\x00")
            else:
                parts += (key, b"\x00", canonical_record(record), b"\x00")
            if len(parts) >= 40000:
                digest.update(b"".join(parts))
                parts.clear()
        digest.update(b"".join(parts))
    return digest.hexdigest()


def counters(txn: ReadTxn) -> dict[str, int]:
    prefix = b"count\x00"
    out: dict[str, int] = {}
    for key, value in txn.items(META, prefix):
        if not key.startswith(prefix):
            break
        out[key[len(prefix) :].decode()] = int(value)
    return out


def generation(txn: ReadTxn, name: str = "generation") -> int:
    raw = txn.get(META, name.encode())
    return int(raw) if raw else 0


def history(txn: ReadTxn, last: int) -> list[HistoryRecord]:
    seq_raw = txn.get(META, b"history-seq")
    top = int(seq_raw) if seq_raw else 0
    out = []
    for seq in range(max(1, top - last + 1), top + 1):
        raw = txn.get(META, b"history\x00%012d" % seq)
        if raw is not None:
            out.append(history_of(raw))
    return out
