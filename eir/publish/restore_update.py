"""A restore update as it travels over MQTT: whole records per (table, key), for ``eir rollback
V --publish`` (the records that take the lists back to version V, and a deletion marker for
each key that must not exist) and for a snapshot (``eir publish --snapshot``: the whole content
of the list, class, device and case tables, and the history records: the audit trail a new node
starts with).

Blob (zlib-compressed, cut into parts as every update)::

    b"EIRR1\\n" | meta JSON | b"\\n" | for each group: [key lengths u16] keys
                                                      [record lengths u32] records

A record length of ``0xFFFFFFFF`` is a deletion marker (the key must not exist; never in a
snapshot). A group's description names its table and count. The description's ``snapshot``
(``"groups"`` aside, :class:`RestoreMeta`) says the groups are the *whole* of every table the
snapshot covers: a table's keys it does not hold go. Nodes never trust the bytes: every key and
every record is checked on decode (list records with :func:`unpack_record`, device items as a
device update's), so a damaged or forged restore is refused whole. A node that predates this
magic refuses it by its magic.
"""

from __future__ import annotations

import json
import zlib
from array import array
from dataclasses import asdict, dataclass

from eir.devices.packing import DamagedDeviceError
from eir.errors import StoreError
from eir.publish.update import (
    DeviceUpdate,
    Reader,
    UpdateError,
    UpdateMeta,
    check_device_item,
    check_keys,
    decode_any,
    decompress,
    parse_meta,
)
from eir.store.batch import Batch
from eir.store.cases import unpack_case
from eir.store.devices import DEVICE_TABLES
from eir.store.records import CASES, Table, unpack_record

#: a snapshot's audit trail: the publishing store's history records, key their seq (12
#: digits), value the record's JSON; a new node takes them as its own history
HISTORY = "history"

MAGIC_RESTORE = b"EIRR1\n"
DELETED = 0xFFFFFFFF
#: the tables a restore update may write, in the order a snapshot holds them
RESTORE_TABLES = (
    Table.IMEI.value,
    Table.RANGE.value,
    Table.PAIR.value,
    Table.CLASS.value,
    *DEVICE_TABLES,
    CASES,
    HISTORY,
)
#: the tables of the list store a snapshot replaces whole
SNAPSHOT_TABLES = RESTORE_TABLES[:-1]
_MAX_CASE_KEY = 255
_HISTORY_KEY = 12  # the history record's seq, 12 digits (as ``meta`` keys it)


@dataclass(frozen=True, slots=True)
class RestoreUpdate:
    """Whole records to put back: (table, key, record or None for "no such key"), sorted by
    table (in :data:`RESTORE_TABLES` order) and key. ``snapshot``: the records are the whole
    of :data:`SNAPSHOT_TABLES` (keys not among them go)."""

    records: list[tuple[str, bytes, bytes | None]]
    snapshot: bool = False


def encode_restore(update: RestoreUpdate, meta: UpdateMeta, level: int = 1) -> bytes:
    """The compressed blob of ``update`` (``meta.groups`` is written here)."""
    groups: list[dict[str, object]] = []
    sections: list[bytes] = []
    for table in RESTORE_TABLES:
        items = [(k, r) for t, k, r in update.records if t == table]
        if not items:
            continue
        keys = [k for k, _ in items]
        records = [r or b"" for _, r in items]
        lengths = array("I", [DELETED if r is None else len(r) for _, r in items])
        sections += [
            array("H", map(len, keys)).tobytes(),
            b"".join(keys),
            lengths.tobytes(),
            b"".join(records),
        ]
        groups.append({"table": table, "count": len(items)})
    data = _described(meta) | {"groups": groups, "snapshot": update.snapshot}
    head = MAGIC_RESTORE + json.dumps(data, separators=(",", ":")).encode() + b"\n"
    compressor = zlib.compressobj(level)
    out = [compressor.compress(head), *(compressor.compress(s) for s in sections)]
    out.append(compressor.flush())
    return b"".join(out)


def _described(meta: UpdateMeta) -> dict[str, object]:
    data = asdict(meta)
    del data["devices"], data["device_kind"]
    return data


def decode_blob(blob: bytes) -> tuple[UpdateMeta, Batch | DeviceUpdate | RestoreUpdate]:
    """Any update's description and content: a list update's batch, a device table, or a
    restore's records; any fault is an :class:`UpdateError`."""
    if not _is_restore(blob):
        return decode_any(blob)
    data = decompress(blob)
    end = data.find(b"\n", len(MAGIC_RESTORE))
    if end < 0:
        raise UpdateError("the update's description is not terminated")
    description = _description(data[len(MAGIC_RESTORE) : end])
    snapshot = description.pop("snapshot", False)
    if not isinstance(snapshot, bool):
        raise UpdateError("the update's description is not valid: snapshot must be true or false")
    meta = parse_meta(json.dumps(description).encode())
    reader = Reader(data)
    reader.at = end + 1
    records: list[tuple[str, bytes, bytes | None]] = []
    seen: list[str] = []
    for index, spec in enumerate(meta.groups):
        table, count = _group_spec(spec, index, seen)
        records += _records(reader, table, count, snapshot, f"group {index} ({table})")
    if reader.at != len(data):
        raise UpdateError(f"{len(data) - reader.at} bytes after the last group")
    return meta, RestoreUpdate(records, snapshot)


def _is_restore(blob: bytes) -> bool:
    """Whether the blob starts with the restore magic (only its first bytes decompressed)."""
    try:
        start = zlib.decompressobj().decompress(blob, len(MAGIC_RESTORE))
    except zlib.error:
        return False  # decode_any says what is wrong with it
    return start == MAGIC_RESTORE


def _description(line: bytes) -> dict[str, object]:
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise UpdateError(f"the update's description is not valid: {exc}") from None
    if not isinstance(data, dict):
        raise UpdateError("the update's description is not valid: not an object")
    return data


def _group_spec(spec: object, index: int, seen: list[str]) -> tuple[str, int]:
    """A group's table and count, the tables in :data:`RESTORE_TABLES` order, each once."""
    table = spec.get("table") if isinstance(spec, dict) else None
    count = spec.get("count") if isinstance(spec, dict) else None
    if table not in RESTORE_TABLES or not isinstance(count, int) or count < 1:
        raise UpdateError(f"group {index}: not a valid group description")
    order = RESTORE_TABLES.index(str(table))
    if seen and RESTORE_TABLES.index(seen[-1]) >= order:
        raise UpdateError(f"group {index}: tables out of order")
    seen.append(str(table))
    return str(table), count


def _records(
    reader: Reader, table: str, count: int, snapshot: bool, where: str
) -> list[tuple[str, bytes, bytes | None]]:
    keys = list(reader.items(count, 0))
    lengths = array("I")
    lengths.frombytes(reader.take(4 * count))
    _check_table_keys(table, keys, where)
    out: list[tuple[str, bytes, bytes | None]] = []
    for key, length in zip(keys, lengths, strict=True):
        if table == HISTORY and not snapshot:
            raise UpdateError(f"{where}: history records outside a snapshot")
        if length == DELETED:
            if snapshot:
                raise UpdateError(f"{where}: a snapshot holds a deletion marker")
            out.append((table, key, None))
            continue
        record = reader.take(length)
        _check_record(table, key, record, where)
        out.append((table, key, record))
    return out


def _check_table_keys(table: str, keys: list[bytes], where: str) -> None:
    if table in (t.value for t in Table):
        check_keys(Table(table), keys, where)
        return
    if not all(map(bytes.__lt__, keys, keys[1:])):
        raise UpdateError(f"{where}: keys are not sorted and unique")
    if table == CASES and any(not 0 < len(k) <= _MAX_CASE_KEY for k in keys):
        raise UpdateError(f"{where}: a case key of an impossible length")
    if table == HISTORY and any(len(k) != _HISTORY_KEY or not k.isdigit() for k in keys):
        raise UpdateError(f"{where}: a history key that is not a 12-digit number")


def _check_record(table: str, key: bytes, record: bytes, where: str) -> None:
    """One record as its table holds it: list entries that unpack, a device item that
    unpacks, a case record that :func:`eir.store.cases.unpack_case` reads, under its key."""
    try:
        if table in DEVICE_TABLES:
            check_device_item(table, key, record)
        elif table == CASES:
            if unpack_case(record).reference.encode() != key:
                raise UpdateError(f"{where}: a case record under another case's key")
        elif table == HISTORY:
            if not isinstance(json.loads(record), dict):
                raise UpdateError(f"{where}: a history record that is not a JSON object")
        elif not unpack_record(record):
            raise UpdateError(f"{where}: an empty record")
    except (
        StoreError,
        DamagedDeviceError,
        UnicodeDecodeError,
        ValueError,
        KeyError,
        TypeError,
    ) as exc:
        raise UpdateError(f"{where}: a damaged record: {exc}") from None
