"""A list update as it travels over MQTT: a validated load (a :class:`Batch`), versioned,
compressed and cut into parts.

An update is built by ``eir publish`` from files that passed exactly the checks of ``eir load``
and applied by each node with the same :meth:`LmdbStore.apply` as a local load, in one
transaction. Nodes never trust the bytes: :func:`decode_update` checks every key, every entry
field and every length, so a damaged or forged update is refused whole.

Blob (zlib-compressed)::

    b"EIRU2\\n" | meta JSON | b"\\n" | for each group: [key lengths] keys [tail lengths] tails
                                                      [digits] [added times] [times]

``key_width``/``tail_width`` 0 means a little-endian u16 length per item precedes the data;
otherwise every item has that width. A tail is an entry's reason and reference as stored
(one length octet and UTF-8 each). ``digits`` (a group's ``"digits": true``): one octet per key,
the check digit its IMEI was loaded with (0-9) or 10 for none (``Group.digits``).

The magic is ``EIRU2`` when some group carries digits, so that a node that predates them
refuses the update by its magic instead of misreading it; an update without digits keeps
``EIRU1``. Likewise ``EIRU3`` when the update writes the ``class`` table (a group of it, or a
class in its scope, written ``[list, source, "class"]`` in ``scope``): a node that predates the
class table refuses it by its magic rather than replace a list source named like the class.
All three are decoded. ``EIRU4`` when some group carries entry times (a group's ``"times":
true``: a section of u32 pairs ``effective, expires`` per key after its added times, 0: none;
``Group.times``): a node that predates them refuses the update by its magic rather than list
entries without their due dates. A decoded section is checked: some key has times (a key's
0, 0: none, the entry form without times), and ``expires`` is after ``effective`` when both
are set.

A device database update (``eir publish --devices FILE`` or ``--approved FILE``) has its own
magic, ``EIRD1``: its description names the table it replaces (``devices``: ``device`` or
``approved``) and the kind of file (``device_kind``), and one section of keys and one of
values follow (the records of :mod:`eir.devices.packing`). A node that predates it refuses it by
its magic; a list update's description never holds those two names, so it reads as before.

Part (one MQTT message)::

    b"EIRP" | version 1 | seq u64 | index u32 | count u32 | id (16) | SHA-256 of the blob (32)
    | data

Parts of one update share seq, count, id and digest; the node joins them in index order and
checks the digest before it decompresses anything.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import re
import struct
import zlib
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise

from eir.devices.packing import DamagedDeviceError, unpack_approved, unpack_device
from eir.errors import EirError, IdentityError
from eir.model import ListName
from eir.store.api import ClassScope, Mode
from eir.store.batch import Batch, Group
from eir.store.devices import DEVICE, DEVICE_TABLES
from eir.store.fields import check_source
from eir.store.records import MAX_FIELD, NO_DIGIT, Table, pack_tail
from eir.store.times import check_times

MAGIC = b"EIRU1\n"
#: the magic of an update where some group carries check digits
MAGIC_DIGITS = b"EIRU2\n"
#: the magic of an update that writes the class table (it may carry digits too)
MAGIC_CLASSES = b"EIRU3\n"
#: the magic of an update where some group carries entry times (it may carry the rest too)
MAGIC_TIMES = b"EIRU4\n"
#: the third item of a class's entry in ``scope`` (see :class:`~eir.store.api.ClassScope`)
CLASS_MARK = "class"
#: the magic of a device database update (a whole device or approved table)
MAGIC_DEVICES = b"EIRD1\n"
PART_MAGIC = b"EIRP"
PART_VERSION = 1
_PART = struct.Struct(">4sBQII16s32s")
PART_HEADER = _PART.size
#: parts of at most this many bytes of the compressed blob (mosquitto's default limit is far
#: above; smaller parts keep the broker's and the nodes' memory per message low)
PART_SIZE = 512 * 1024
#: a blob that decompresses past this is refused (a zip bomb is not an update)
MAX_UPDATE_BYTES = 4 << 30
_KEY_WIDTH = {
    Table.IMEI: (14, 14),
    Table.RANGE: (28, 28),
    Table.PAIR: (20, 29),
    Table.CLASS: (14, 14),
}
_U16 = "H"
_U32 = "I"


class UpdateError(EirError):
    """A list update that cannot be applied as it is: damaged, forged or incomplete."""


@dataclass(frozen=True, slots=True)
class UpdateMeta:
    seq: int
    id: str  # 32 hex digits, chosen by the publisher
    time: int  # the publisher's clock: every node stamps the entries with it
    mode: str
    list: str
    source: str
    #: (list, source) pairs; a class's is (list, class, "class") (see :func:`scope_items`)
    scope: builtins.list[tuple[str, ...]]
    remove_any_source: bool
    files: builtins.list[str]
    rows: int
    invalid: int
    duplicates: int
    publisher: str = ""
    groups: builtins.list[dict[str, object]] = field(default_factory=builtins.list)
    #: a device database update: the table it replaces ("device" or "approved"); "" else
    devices: str = ""
    #: a device database update: the kind of file it was read from (gsma17, lab...)
    device_kind: str = ""
    #: the audit of the change (every node records it in its history): who published it
    #: (``--by``, else the login name), why, the publisher's node name and the action (load,
    #: grandfather, rollback, snapshot...); an update that predates them reads with these
    by: str = ""
    reason: str = ""
    reference: str = ""
    node: str = ""
    action: str = ""
    #: a restore update (``eir rollback V --publish``): the version it restores, 0 else
    restores: int = 0

    @property
    def entries(self) -> int:
        return sum(int(str(g["count"])) for g in self.groups)

    def owners(self) -> builtins.list[tuple[ListName, str]]:
        """The scope to apply the update with (a class's as a :class:`ClassScope`)."""
        return [
            ClassScope(ListName(item[0]), item[1])
            if item[2:] == (CLASS_MARK,)
            else (ListName(item[0]), item[1])
            for item in self.scope
        ]


def scope_items(scope: Sequence[tuple[ListName, str]]) -> builtins.list[tuple[str, ...]]:
    """``scope`` as :attr:`UpdateMeta.scope` holds it: a class marked as such."""
    return [
        (n.value, s, CLASS_MARK) if isinstance(item, ClassScope) else (n.value, s)
        for item in scope
        for n, s in (item,)
    ]


@dataclass(frozen=True, slots=True)
class Part:
    seq: int
    index: int
    count: int
    id: bytes
    digest: bytes
    data: bytes


def _widths(items: Sequence[bytes]) -> int:
    if not items:
        return 1
    first = len(items[0])
    return first if first and all(len(i) == first for i in items) else 0


def _tails(group: Group) -> tuple[list[bytes], array[int] | None]:
    """Each key's packed reason and reference, and its own added time when it has one."""
    n = len(group.keys)
    if group.entries is not None:
        return group.entries.tails(), group.entries.added_times()
    if group.tails is not None:
        buffer, starts, ends = group.tails
        return [buffer[a:b] for a, b in zip(starts, ends, strict=True)], None
    if group.fields is None:
        return [b"\x00\x00"] * n, None
    tails = [pack_tail(b"", reason, reference) for reason, reference, _ in group.fields]
    added = [a for _, _, a in group.fields]
    return tails, (array(_U32, added) if any(added) else None)


def _section(items: Sequence[bytes], width: int) -> list[bytes]:
    if width:
        return [b"".join(items)]
    lengths = array(_U16, [len(i) for i in items])
    return [lengths.tobytes(), b"".join(items)]


def encode_update(batch: Batch, meta: UpdateMeta, level: int = 1) -> bytes:
    """The compressed blob of ``batch`` (``meta.groups`` is filled in here)."""
    sections: list[bytes] = []
    groups: list[dict[str, object]] = []
    for group in batch.groups:
        if not group.keys:
            continue
        tails, added = _tails(group)
        key_width, tail_width = _widths(group.keys), _widths(tails)
        sections += _section(group.keys, key_width)
        sections += _section(tails, tail_width)
        if group.digits is not None:
            sections.append(bytes(group.digits))
        if added is not None:
            sections.append(added.tobytes())
        if group.times is not None:
            sections.append(array(_U32, [t for pair in group.times for t in pair]).tobytes())
        described: dict[str, object] = {"times": True} if group.times is not None else {}
        groups.append(
            described
            | {
                "table": group.table.value,
                "list": group.list.value,
                "source": group.source,
                "count": len(group.keys),
                "key_width": key_width,
                "tail_width": tail_width,
                "added": added is not None,
                "digits": group.digits is not None,
            }
        )
    data = _described(meta) | {"groups": groups}
    classes = any(g["table"] == Table.CLASS for g in groups) or any(
        item[2:] == (CLASS_MARK,) for item in map(tuple, meta.scope)
    )
    magic = (
        MAGIC_TIMES
        if any(g.get("times") for g in groups)
        else MAGIC_CLASSES
        if classes
        else MAGIC_DIGITS
        if any(g["digits"] for g in groups)
        else MAGIC
    )
    head = magic + json.dumps(data, separators=(",", ":")).encode() + b"\n"
    compressor = zlib.compressobj(level)
    out = [compressor.compress(head)]
    out += [compressor.compress(s) for s in sections]
    out.append(compressor.flush())
    return b"".join(out)


def _described(meta: UpdateMeta) -> dict[str, object]:
    """The description as JSON holds it: a list update's without the device fields (a node
    that predates them reads it as before)."""
    data = asdict(meta)
    if not meta.devices:
        del data["devices"], data["device_kind"]
    for name in AUDIT_FIELDS:  # a node that predates the audit reads an update without it
        if not data[name]:
            del data[name]
    return data


#: the audit fields of :class:`UpdateMeta`, written only when set
AUDIT_FIELDS = ("by", "reason", "reference", "node", "action", "restores")


@dataclass(frozen=True, slots=True)
class DeviceUpdate:
    """A device database update's content: the whole of one device table, sorted by key."""

    table: str
    items: builtins.list[tuple[bytes, bytes]]


def encode_device_update(update: DeviceUpdate, meta: UpdateMeta, level: int = 1) -> bytes:
    """The compressed blob of a device table (``meta.devices`` names it)."""
    keys = [k for k, _ in update.items]
    values = [v for _, v in update.items]
    key_width, value_width = _widths(keys), _widths(values)
    group = {
        "table": update.table,
        "count": len(keys),
        "key_width": key_width,
        "value_width": value_width,
    }
    head = MAGIC_DEVICES + json.dumps(_described(meta) | {"groups": [group]}).encode() + b"\n"
    compressor = zlib.compressobj(level)
    out = [compressor.compress(head)]
    out += [
        compressor.compress(s) for s in _section(keys, key_width) + _section(values, value_width)
    ]
    out.append(compressor.flush())
    return b"".join(out)


def split_parts(blob: bytes, seq: int, update_id: bytes, part_size: int = PART_SIZE) -> list[bytes]:
    digest = hashlib.sha256(blob).digest()
    count = max(1, -(-len(blob) // part_size))
    return [
        _PART.pack(PART_MAGIC, PART_VERSION, seq, i, count, update_id, digest)
        + blob[i * part_size : (i + 1) * part_size]
        for i in range(count)
    ]


def decode_part(payload: bytes) -> Part:
    if len(payload) < PART_HEADER:
        raise UpdateError(f"a part of {len(payload)} bytes is shorter than its header")
    magic, version, seq, index, count, update_id, digest = _PART.unpack_from(payload)
    if magic != PART_MAGIC:
        raise UpdateError("not an eir update part (bad magic)")
    if version != PART_VERSION:
        raise UpdateError(f"update part version {version} is not {PART_VERSION}")
    if not 0 <= index < count:
        raise UpdateError(f"part {index} of {count}")
    return Part(seq, index, count, update_id, digest, payload[PART_HEADER:])


def join_parts(parts: Sequence[Part]) -> bytes:
    """The blob of a complete, consistent set of parts (any order); checks the digest."""
    if not parts:
        raise UpdateError("no parts")
    first = parts[0]
    by_index = {p.index: p for p in parts}
    if len(by_index) != first.count or set(by_index) != set(range(first.count)):
        raise UpdateError(f"update #{first.seq}: {len(by_index)} of {first.count} parts")
    for p in parts:
        if (p.seq, p.count, p.id, p.digest) != (first.seq, first.count, first.id, first.digest):
            raise UpdateError(f"update #{first.seq}: parts of different updates mixed")
    blob = b"".join(by_index[i].data for i in range(first.count))
    if hashlib.sha256(blob).digest() != first.digest:
        raise UpdateError(f"update #{first.seq}: the parts do not match their digest")
    return blob


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, size: int) -> bytes:
        end = self.at + size
        if size < 0 or end > len(self.data):
            raise UpdateError("the update is shorter than its description")
        chunk = self.data[self.at : end]
        self.at = end
        return chunk

    def items(self, count: int, width: int) -> Iterator[bytes]:
        if width:
            buffer = self.take(count * width)
            return (buffer[i : i + width] for i in range(0, count * width, width))
        lengths = array(_U16)
        lengths.frombytes(self.take(2 * count))
        buffer = self.take(sum(lengths))
        offsets = [0]
        for length in lengths:
            offsets.append(offsets[-1] + length)
        return (buffer[a:b] for a, b in pairwise(offsets))


def _decompress(blob: bytes) -> bytes:
    decompressor = zlib.decompressobj()
    try:
        data = decompressor.decompress(blob, MAX_UPDATE_BYTES)
    except zlib.error as exc:
        raise UpdateError(f"the update does not decompress: {exc}") from None
    if decompressor.unconsumed_tail:
        raise UpdateError(f"the update is larger than {MAX_UPDATE_BYTES} bytes")
    if not decompressor.eof or decompressor.unused_data:
        raise UpdateError("the update's compressed stream is truncated or has trailing bytes")
    return data


def _check_keys(table: Table, keys: list[bytes], where: str) -> None:
    low, high = _KEY_WIDTH[table]
    for key in keys:
        if not low <= len(key) <= high or not key.isdigit():
            raise UpdateError(f"{where}: key {key[:32]!r} is not a {table} key")
    if table is Table.RANGE:
        for key in keys:
            if key[:14] > key[14:]:
                raise UpdateError(f"{where}: range {key.decode()} ends before it starts")
    if not all(map(bytes.__lt__, keys, keys[1:])):
        raise UpdateError(f"{where}: keys are not sorted and unique")


def _check_tails(tails: list[bytes], where: str) -> None:
    if all(t == b"\x00\x00" for t in tails):
        return
    for tail in tails:
        try:
            reason_end = 1 + tail[0]
            if reason_end + 1 + tail[reason_end] != len(tail):
                raise UpdateError(f"{where}: an entry's fields do not add up")
            tail[1:reason_end].decode()
            tail[reason_end + 1 :].decode()
        except IndexError:
            raise UpdateError(f"{where}: an entry's fields are truncated") from None
        except UnicodeDecodeError:
            raise UpdateError(f"{where}: an entry's reason or reference is not UTF-8") from None


def _meta(line: bytes) -> UpdateMeta:
    try:
        data = json.loads(line)
        meta = UpdateMeta(**data)
        Mode(meta.mode)
        ListName(meta.list)
        check_source(meta.source)
        numbers = (meta.seq, meta.time, meta.rows, meta.invalid, meta.duplicates)
        if (
            not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers)
            or meta.seq < 1
            or not isinstance(meta.remove_any_source, bool)
        ):
            raise ValueError("seq, time and counts must be integers (seq from 1)")
        if not re.fullmatch(r"[0-9a-f]{32}", meta.id):
            raise ValueError(f"id {meta.id!r}")
        scope = [_scope_item(item) for item in meta.scope]
        if not isinstance(meta.groups, list) or not isinstance(meta.files, list):
            raise ValueError("groups and files must be lists")
        if not isinstance(meta.devices, str) or not isinstance(meta.device_kind, str):
            raise ValueError("devices and device_kind must be text")
        _check_audit(meta)
    except (ValueError, TypeError, IdentityError, KeyError) as exc:
        raise UpdateError(f"the update's description is not valid: {exc}") from None
    return UpdateMeta(**(asdict(meta) | {"scope": scope}))


def _check_audit(meta: UpdateMeta) -> None:
    """The audit fields: text of at most a field's length, ``restores`` a version number."""
    for name in AUDIT_FIELDS[:-1]:
        value = getattr(meta, name)
        if not isinstance(value, str) or len(value.encode()) > MAX_FIELD:
            raise ValueError(f"{name} must be text of at most {MAX_FIELD} bytes")
    if not isinstance(meta.restores, int) or isinstance(meta.restores, bool) or meta.restores < 0:
        raise ValueError("restores must be a version number")


def parse_meta(line: bytes) -> UpdateMeta:
    """An update's description (its JSON line), checked; an :class:`UpdateError` else."""
    return _meta(line)


def decompress(blob: bytes) -> bytes:
    """A blob decompressed, within :data:`MAX_UPDATE_BYTES`; an :class:`UpdateError` else."""
    return _decompress(blob)


def check_keys(table: Table, keys: list[bytes], where: str) -> None:
    """Every key of ``table``'s form, sorted and unique; an :class:`UpdateError` else."""
    _check_keys(table, keys, where)


def check_device_item(table: str, key: bytes, value: bytes) -> None:
    """One item of a device table, checked; :class:`DamagedDeviceError` else."""
    _check_device_item(table, key, value)


Reader = _Reader


def _scope_item(item: object) -> tuple[str, ...]:
    """One item of a description's scope, checked: [list, source] or [list, class, "class"]."""
    if not isinstance(item, list | tuple) or len(item) not in (2, 3):
        raise ValueError(f"scope item {item!r}")
    if len(item) == 3 and item[2] != CLASS_MARK:
        raise ValueError(f"scope item {item!r}")
    checked = (str(ListName(item[0])), check_source(str(item[1])))
    return checked if len(item) == 2 else (*checked, CLASS_MARK)


def _group(reader: _Reader, spec: dict[str, object], index: int) -> Group:
    where = f"group {index}"
    try:
        table = Table(str(spec["table"]))
        list_name = ListName(str(spec["list"]))
        source = check_source(str(spec["source"]))
        count, key_width, tail_width = (
            int(str(spec[k])) for k in ("count", "key_width", "tail_width")
        )
        has_added = spec["added"] is True
        has_digits = spec.get("digits", False) is True
        has_times = spec.get("times", False) is True
    except (KeyError, ValueError, IdentityError) as exc:
        raise UpdateError(f"{where}: not a valid group description: {exc}") from None
    if count < 1 or key_width < 0 or tail_width < 0:
        raise UpdateError(f"{where}: not a valid group description")
    keys = list(reader.items(count, key_width))
    _check_keys(table, keys, where)
    tails = list(reader.items(count, tail_width))
    if any(not 2 <= len(t) <= 2 * (MAX_FIELD + 1) for t in tails):
        raise UpdateError(f"{where}: an entry's fields have an impossible length")
    _check_tails(tails, where)
    digits = _digits(reader, count, where) if has_digits else None
    if not has_added:
        buffer = b"".join(tails)
        starts, ends = [0], []
        for tail in tails:
            ends.append(starts[-1] + len(tail))
            starts.append(ends[-1])
        starts.pop()
        group = Group(table, list_name, source, keys, tails=(buffer, starts, ends), digits=digits)
    else:
        added = array(_U32)
        added.frombytes(reader.take(4 * count))
        fields = []
        for tail, stamp in zip(tails, added, strict=True):
            reason_end = 1 + tail[0]
            fields.append((tail[1:reason_end].decode(), tail[reason_end + 1 :].decode(), stamp))
        group = Group(table, list_name, source, keys, fields=fields, digits=digits)
    if has_times:
        group.times = _times(reader, count, where)
    return group


def _times(reader: _Reader, count: int, where: str) -> list[tuple[int, int]]:
    """A group's times section: (effective, expires) per key, each pair checked."""
    flat = array(_U32)
    flat.frombytes(reader.take(8 * count))
    pairs = list(zip(flat[::2], flat[1::2], strict=True))
    if not any(flat):
        raise UpdateError(f"{where}: a group with times has none")
    try:
        for effective, expires in pairs:
            check_times(effective, expires)
    except IdentityError as exc:
        raise UpdateError(f"{where}: {exc}") from None
    return pairs


def _digits(reader: _Reader, count: int, where: str) -> bytes:
    digits = reader.take(count)
    if digits and max(digits) > NO_DIGIT:
        raise UpdateError(f"{where}: a check digit is not 0 to 9 or {NO_DIGIT} (none)")
    return digits


def decode_update(blob: bytes) -> tuple[UpdateMeta, Batch]:
    """The description and the batch of a list update's blob; any fault (a device database
    update too) is an :class:`UpdateError`."""
    meta, content = decode_any(blob)
    if isinstance(content, DeviceUpdate):
        raise UpdateError("a device database update, not a list update")
    return meta, content


def decode_any(blob: bytes) -> tuple[UpdateMeta, Batch | DeviceUpdate]:
    """The description and the content of a blob: a list update's batch, or a device
    database update's table; any fault is an :class:`UpdateError`."""
    data = _decompress(blob)
    if not data.startswith((MAGIC, MAGIC_DIGITS, MAGIC_CLASSES, MAGIC_TIMES, MAGIC_DEVICES)):
        raise UpdateError("not an eir list update (bad magic)")
    end = data.find(b"\n", len(MAGIC))
    if end < 0:
        raise UpdateError("the update's description is not terminated")
    meta = _meta(data[len(MAGIC) : end])
    reader = _Reader(data)
    reader.at = end + 1
    if data.startswith(MAGIC_DEVICES):
        content: Batch | DeviceUpdate = _device_table(reader, meta)
    else:
        content = _batch(reader, meta, timed=data.startswith(MAGIC_TIMES))
    if reader.at != len(data):
        raise UpdateError(f"{len(data) - reader.at} bytes after the last group")
    return meta, content


def _batch(reader: _Reader, meta: UpdateMeta, *, timed: bool) -> Batch:
    groups = [
        _group(reader, spec if isinstance(spec, dict) else {}, i)
        for i, spec in enumerate(meta.groups)
    ]
    if not timed and any(g.times is not None for g in groups):
        raise UpdateError("a group with times in an update without their magic (EIRU4)")
    return Batch(
        groups=groups,
        files=list(meta.files),
        rows=meta.rows,
        invalid=meta.invalid,
        duplicates=meta.duplicates,
    )


def _device_table(reader: _Reader, meta: UpdateMeta) -> DeviceUpdate:
    """The one table of a device database update, every key and record checked."""
    if meta.devices not in DEVICE_TABLES or len(meta.groups) != 1:
        raise UpdateError(f"not a device database update of a known table ({meta.devices!r})")
    spec = meta.groups[0]
    try:
        count, key_width, value_width = (
            int(str(spec[k])) for k in ("count", "key_width", "value_width")
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise UpdateError(f"not a valid device table description: {exc}") from None
    if spec.get("table") != meta.devices or count < 0 or key_width < 0 or value_width < 0:
        raise UpdateError("not a valid device table description")
    keys = list(reader.items(count, key_width)) if count else []
    values = list(reader.items(count, value_width)) if count else []
    if not all(map(bytes.__lt__, keys, keys[1:])):
        raise UpdateError("the device table's keys are not sorted and unique")
    try:
        for key, value in zip(keys, values, strict=True):
            _check_device_item(meta.devices, key, value)
    except (DamagedDeviceError, UnicodeDecodeError) as exc:
        raise UpdateError(f"a damaged device table: {exc}") from None
    return DeviceUpdate(meta.devices, list(zip(keys, values, strict=True)))


def _check_device_item(table: str, key: bytes, value: bytes) -> None:
    if table == DEVICE:
        if len(key) != 8 or not key.isdigit():
            raise DamagedDeviceError(f"key {key[:16]!r} is not a TAC")
        unpack_device(key, value)
        return
    if key[:1] not in (b"T", b"M") or len(key) < 2:
        raise DamagedDeviceError(f"key {key[:16]!r} is not an approved entry")
    key[1:].decode()
    unpack_approved(key, value)
