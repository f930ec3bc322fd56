"""Versions: every committed change to the list store is one, numbered as its history record
(the ``seq`` :func:`eir.store.apply.update_meta` returns), and keeps its change set in the
``change`` table, in the same transaction: for each key of a list table (``imei``, ``range``,
``pair``, ``class``) it changed, the record before and the record after.

* key: version (8 octets, big-endian) | table name | NUL | entry key; value:
  :func:`pack_change` (one octet saying which records are present, then them);
* ``meta`` ``changes-from``: the oldest version whose change set is kept; every version from it
  to the newest has its change set (a version that changed no list table has an empty one);
* ``versions.keep``: :func:`prune` drops the change sets older than the newest ``keep``
  versions, a few versions per commit (bounded work);
* :func:`compose` folds the change sets of versions V1+1..V2 into one per key (the record before
  its first change and after its last): what ``eir diff V1 V2`` prints;
* :func:`rollback_changes` is what makes the content after V again (the records of every key
  changed since V, as they were after V): ``eir rollback V`` writes them with
  :func:`eir.store.restore.restore_records`, and a published rollback carries them.

Pure: it reads and writes through a :class:`~eir.store.writes.WriteTxn`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter

from eir.errors import EirError
from eir.store.api import HandsetChange, LoadSummary, Mode
from eir.store.apply import update_meta
from eir.store.batch import Batch
from eir.store.diff import Change, RecordingTxn
from eir.store.reading import ReadTxn
from eir.store.records import CHANGES, META, Table
from eir.store.restore import RESTORE_TABLES, Restore, restore_records
from eir.store.writes import WriteTxn

#: what a restore writes: the records, or what finds them in the write transaction (a
#: rollback reads its change sets where it writes, so nothing changes between the two)
Plan = Iterable[Restore] | Callable[[ReadTxn], Iterable[Restore]]

#: the tables whose changes a version keeps
VERSIONED_TABLES = frozenset(t.value for t in RESTORE_TABLES)
#: ``meta``: the oldest version whose change set is kept
CHANGES_FROM = b"changes-from"
#: change sets dropped at most per commit (each commit adds one: the backlog shrinks)
PRUNE_STEP = 4

_OLD, _NEW = 1, 2
_BOTH = bytes((_OLD | _NEW,))
_ONLY_OLD = bytes((_OLD,))
_ONLY_NEW = bytes((_NEW,))
_first = itemgetter(0)


class VersionError(EirError):
    """A version that does not exist, or whose change set is no longer kept."""


def version_prefix(version: int) -> bytes:
    """The first octets of every key of ``version``'s change set."""
    return version.to_bytes(8, "big")


def change_key(version: int, table: str, key: bytes) -> bytes:
    """The ``change`` table's key of one key's change in ``version``."""
    return version.to_bytes(8, "big") + table.encode() + b"\x00" + key


def pack_change(old: bytes | None, new: bytes | None) -> bytes:
    """The records before and after one change (None: absent), as one value: a flag octet
    (1: a record before, 2: a record after), then with both the length of the one before
    (4 octets, big-endian), then the records."""
    if old is None:
        return _ONLY_NEW + (new or b"")
    if new is None:
        return _ONLY_OLD + old
    return _BOTH + len(old).to_bytes(4, "big") + old + new


def unpack_change(value: bytes) -> tuple[bytes | None, bytes | None]:
    """The records before and after of a :func:`pack_change` value."""
    flags = value[0]
    if flags == _NEW:
        return None, bytes(value[1:])
    if flags == _OLD:
        return bytes(value[1:]), None
    size = int.from_bytes(value[1:5], "big")
    return bytes(value[5 : 5 + size]), bytes(value[5 + size :])


def folded(log: list[Change]) -> list[Change]:
    """One change per key, in key order: its record before the first change and after the
    last; keys whose record ends as it was are left out."""
    if not log:
        return []
    olds = dict(zip(map(_first, reversed(log)), (c[1] for c in reversed(log)), strict=True))
    news = {key: new for key, _, new in log}
    if len(news) == len(log):  # nothing written twice: no folding needed
        out = sorted(log, key=_first)
        return [c for c in out if c[1] != c[2]]
    return [(k, olds[k], news[k]) for k in sorted(news) if olds[k] != news[k]]


def _packed(prefix: bytes, log: list[Change]) -> tuple[list[bytes], list[bytes]]:
    keys = [prefix + key for key, _, _ in log]
    values = [
        _ONLY_NEW + new
        if old is None and new is not None
        else _ONLY_OLD + old
        if new is None and old is not None
        else pack_change(old, new)
        for _, old, new in log
    ]
    return keys, values


def record_changes(txn: WriteTxn, version: int, changes: dict[str, list[Change]], keep: int) -> int:
    """Write ``version``'s change set (``changes``: each table's changes in the order made, a
    key possibly several times) and drop the change sets past ``keep``. Returns the changes
    written. ``txn`` is the commit's own, not a recording one."""
    written = 0
    head = version_prefix(version)
    if txn.get(META, CHANGES_FROM) is None:  # the first version that keeps its changes
        txn.put(META, CHANGES_FROM, str(version).encode())
    for table in sorted(changes):  # keys sort by table name, then entry key
        if table not in VERSIONED_TABLES:
            continue
        log = folded(changes[table])
        if not log:
            continue
        keys, values = _packed(head + table.encode() + b"\x00", log)
        txn.append_sorted(CHANGES, keys, values)
        written += len(keys)
    prune(txn, version, keep)
    return written


def changes_from(txn: ReadTxn) -> int:
    """The oldest version whose change set is kept (0: none is, yet)."""
    raw = txn.get(META, CHANGES_FROM)
    return int(raw) if raw else 0


def head_version(txn: ReadTxn) -> int:
    """The newest version (0: the store never changed)."""
    raw = txn.get(META, b"history-seq")
    return int(raw) if raw else 0


def prune(txn: WriteTxn, head: int, keep: int) -> None:
    """Drop the change sets of versions older than the newest ``keep`` (at most
    :data:`PRUNE_STEP` versions: a backlog goes over the next commits)."""
    oldest = changes_from(txn)
    wanted = head - keep + 1
    if not oldest or oldest >= wanted:
        return
    upto = min(wanted, oldest + PRUNE_STEP)
    stop = version_prefix(upto)
    keys = []
    for key, _ in txn.items(CHANGES, version_prefix(oldest)):
        if bytes(key[:8]) >= stop:
            break
        keys.append(bytes(key))
    if keys:
        txn.delete_many(CHANGES, keys)
    txn.put(META, CHANGES_FROM, str(upto).encode())


def _refuse(version: int, first: int, keep: int | None) -> VersionError:
    setting = f" (versions.keep = {keep})" if keep is not None else ""
    if not first:
        return VersionError(f"version {version}'s changes are not kept{setting}")
    return VersionError(f"version {version}'s changes are no longer kept{setting}")


def check_range(txn: ReadTxn, base: int, upto: int, keep: int | None = None) -> None:
    """Refuse unless the change sets of versions ``base``+1..``upto`` are all kept."""
    head = head_version(txn)
    for version in (base, upto):
        if version < 0 or version > head:
            raise VersionError(f"no version {version} (the newest is {head})")
    if base > upto:
        raise VersionError(f"version {base} is newer than version {upto}")
    first = changes_from(txn)
    if base < upto and (not first or base + 1 < first):
        raise _refuse(base + 1, first, keep)


def _version_changes(txn: ReadTxn, base: int, upto: int) -> Iterator[tuple[bytes, bytes]]:
    """The (change key, value) items of versions ``base``+1..``upto``, in version order."""
    stop = version_prefix(upto + 1)
    for key, value in txn.items(CHANGES, version_prefix(base + 1)):
        if bytes(key[:8]) >= stop:
            return
        yield key, value


def compose(txn: ReadTxn, base: int, upto: int) -> dict[str, list[Change]]:
    """Each table's changes from the content after version ``base`` to the content after
    ``upto`` (one per key: before its first change, after its last; in key order). The
    caller checked the range (:func:`check_range`)."""
    olds: dict[str, dict[bytes, bytes | None]] = {}
    news: dict[str, dict[bytes, bytes | None]] = {}
    for raw, value in _version_changes(txn, base, upto):
        rest = bytes(raw[8:])
        split = rest.index(b"\x00")
        table, key = rest[:split].decode(), rest[split + 1 :]
        old, new = unpack_change(value)
        olds.setdefault(table, {}).setdefault(key, old)
        news.setdefault(table, {})[key] = new
    out: dict[str, list[Change]] = {}
    for table, after in news.items():
        before = olds[table]
        log = [(k, before[k], after[k]) for k in sorted(after) if before[k] != after[k]]
        if log:
            out[table] = log
    return out


def rollback_changes(txn: ReadTxn, version: int, keep: int | None = None) -> list[Restore]:
    """The records that make the content after ``version`` again: every key changed since,
    with its record as it was after ``version`` (None: absent), table by table in key order.
    Refuses (:class:`VersionError`) when a change set it needs is no longer kept."""
    head = head_version(txn)
    check_range(txn, version, head, keep)
    return [
        (Table(table), key, old)
        for table, log in sorted(compose(txn, version, head).items())
        for key, old, _ in log
    ]


@dataclass(frozen=True, slots=True)
class Kept:
    """Which versions still have their change sets: ``first``..``head`` (none when
    ``first`` is 0)."""

    first: int
    head: int

    def has(self, version: int) -> bool:
        return bool(self.first) and self.first <= version <= self.head


def kept(txn: ReadTxn) -> Kept:
    """The versions whose change sets are kept."""
    return Kept(changes_from(txn), head_version(txn))


def counted(changes: Iterable[Change]) -> tuple[int, int, int]:
    """(keys added, removed, changed) of one table's changes."""
    added = removed = updated = 0
    for _, old, new in changes:
        if old is None:
            added += 1
        elif new is None:
            removed += 1
        else:
            updated += 1
    return added, removed, updated


def restore_version(
    txn: WriteTxn, plan: Plan, change: HandsetChange, stamp: int, keep: int
) -> tuple[LoadSummary, int]:
    """Put ``plan``'s records back in ``txn`` as a new version (its history record is
    ``change``, its change set kept like any other): returns the summary and the version.
    The caller commits (or aborts: a dry run)."""
    recording = RecordingTxn(txn)
    records = plan(txn) if callable(plan) else plan
    summary, delta, touched = restore_records(recording, records)
    batch = Batch(change=change)
    version = update_meta(
        txn, summary, delta, batch, Mode.REPLACE, [], stamp, touched=[t.value for t in touched]
    )
    record_changes(txn, version, recording.changes, keep)
    return summary, version
