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
from itertools import islice
from operator import itemgetter, lt

from eir.errors import EirError, StoreError
from eir.model import ListName
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
#: ``meta``: the version a snapshot made: no change set crosses it
SNAPSHOT_AT = b"snapshot-at"
#: ``meta``: the newest history record a snapshot brought (the publisher's audit trail, not
#: this node's own changes: the case events skip them)
HISTORY_IMPORTED = b"history-imported"
#: change sets dropped at most per commit (each commit adds one: the backlog shrinks)
PRUNE_STEP = 4

#: the first octet of a change whose key had a record before: then only that record, or
#: (both) its length (4 octets) and both records; any other first octet is a record's code
#: (below 0xF0, :mod:`eir.store.records`): the change of a key added, its record alone
_ONLY_OLD = b"\xf1"
_ADDED = b"\xf2"  # an added record that does not start with a code (damaged): flagged
_BOTH = b"\xf3"
_FLAGS = 0xF0
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
    """The records before and after one change (None: absent), as one value: a key added is
    its record as it is (no copy: a fresh load's change set costs its keys); a key removed
    ``F1`` and the record before; a key changed ``F3``, the length of the record before (4
    octets, big-endian), then both records."""
    if old is None:
        if new is None:
            raise ValueError("a change without records")
        return new if new and new[0] < _FLAGS else _ADDED + new
    if new is None:
        return _ONLY_OLD + old
    return _BOTH + len(old).to_bytes(4, "big") + old + new


def unpack_change(value: bytes) -> tuple[bytes | None, bytes | None]:
    """The records before and after of a :func:`pack_change` value."""
    flag = value[0]
    if flag < _FLAGS:
        return None, bytes(value)
    if flag == _ONLY_OLD[0]:
        return bytes(value[1:]), None
    if flag == _ADDED[0]:
        return None, bytes(value[1:])
    size = int.from_bytes(value[1:5], "big")
    return bytes(value[5 : 5 + size]), bytes(value[5 + size :])


def _write_added(out: WriteTxn, prefix: bytes, keys: list[bytes], records: list[bytes]) -> None:
    """The changes of keys added (sorted), written to the change table: an append when they
    come after everything in it (as a load's appends do), else sorted puts."""
    if not keys:
        return
    values = records if _coded(records) else list(map(_packed_new, records))
    changes = list(map(prefix.__add__, keys))
    last = out.last_key(CHANGES)
    if last is None or last < changes[0]:
        out.append_sorted(CHANGES, changes, values)
    else:
        out.put_sorted(CHANGES, list(zip(changes, values, strict=True)))


def _coded(records: list[bytes]) -> bool:
    """Whether every record starts with a code (as every record eir writes does): then a
    record added is its own change."""
    try:
        return not records or max(map(_first, records)) < _FLAGS
    except IndexError:  # an empty record
        return False


def _packed_new(record: bytes) -> bytes:
    return pack_change(None, record)


def _ascending(keys: list[bytes]) -> bool:
    """Whether ``keys`` are in strictly ascending order (no key twice)."""
    return all(map(lt, keys, islice(keys, 1, None)))


def folded(log: list[Change]) -> list[Change]:
    """One change per key, in key order: its record before the first change and after the
    last; keys whose record ends as it was are left out."""
    if not log:
        return []
    if not _ascending(list(map(_first, log))):
        log = sorted(log, key=_first)  # runs in order (a replace's deletes, its puts): a merge
        if not _ascending(list(map(_first, log))):  # a key written twice: folded
            return [c for c in _folded_all(log) if c[1] != c[2]]
    return [c for c in log if c[1] != c[2]]


def _packed(prefix: bytes, log: list[Change]) -> tuple[list[bytes], list[bytes]]:
    """The change table's keys and values of one table's folded changes."""
    keys, olds, news = (list(map(itemgetter(i), log)) for i in range(3))
    if olds.count(None) == len(olds) and _coded(news):  # only added keys: the records
        return list(map(prefix.__add__, keys)), news
    values = [
        _ONLY_OLD + old if new is None and old is not None else pack_change(old, new)
        for old, new in zip(olds, news, strict=True)
    ]
    return list(map(prefix.__add__, keys)), values


#: one table's sorted appends: (where in its change log they came, keys, records, whether
#: they were written to the change table as they came)
Run = tuple[int, list[bytes], list[bytes], bool]


class VersionTxn(RecordingTxn):
    """A :class:`~eir.store.diff.RecordingTxn` that keeps sorted appends (a load's new keys,
    in order) without a tuple per key. With ``out`` (the commit's own transaction) and the
    ``version`` the change will make, the appends to a table nothing else wrote before are
    written to the change table as they come (a fresh load's change set is never held whole
    in memory); ``keep_runs``: they are kept too (``eir load --diff`` wants them)."""

    def __init__(
        self,
        inner: WriteTxn,
        *,
        out: WriteTxn | None = None,
        version: int = 0,
        keep_runs: bool = True,
    ) -> None:
        super().__init__(inner)
        self.out = out
        self.version = version
        self.keep_runs = keep_runs
        self.runs: dict[str, list[Run]] = {}
        #: the tables some of whose appends are in the change table already
        self.streamed: set[str] = set()

    def prefix(self, table: str) -> bytes:
        """The change table's key prefix of ``table`` in this version."""
        return version_prefix(self.version) + table.encode() + b"\x00"

    def append_sorted(self, table: str, keys: list[bytes], values: Iterable[bytes]) -> None:
        kept = list(values)
        self.inner.append_sorted(table, keys, kept)
        streams = self.out is not None and table in VERSIONED_TABLES and not self.changes.get(table)
        if streams and self.out is not None:
            _write_added(self.out, self.prefix(table), keys, kept)
            self.streamed.add(table)
            if not self.keep_runs:
                return
        at = len(self.changes.setdefault(table, []))
        self.runs.setdefault(table, []).append((at, keys, kept, streams))

    def table_log(self, table: str, *, streamed: bool = True) -> list[Change]:
        """Every change of ``table`` in the order made, the appends among them (without
        those already in the change table unless ``streamed``)."""
        log = self.changes.get(table, [])
        runs = [r for r in self.runs.get(table, ()) if streamed or not r[3]]
        if not runs:
            return log
        out: list[Change] = []
        done = 0
        for at, keys, values, _ in runs:
            out += log[done:at]
            out += zip(keys, [None] * len(keys), values, strict=True)
            done = at
        out += log[done:]
        return out

    def all_changes(self) -> dict[str, list[Change]]:
        """Each table's changes in the order made (what ``eir load --diff`` writes)."""
        return {table: self.table_log(table) for table in {*self.changes, *self.runs}}

    def packed(self, table: str, prefix: bytes) -> tuple[list[bytes], list[bytes]]:
        """The change table's keys and values of ``table``'s changes not written yet
        (``prefix``: version, table, NUL); for a table without streamed appends."""
        if self.changes.get(table) or not self.runs.get(table):
            log = folded(self.table_log(table))
            return _packed(prefix, log) if log else ([], [])
        keys: list[bytes] = []  # appends only: new keys, in order, each once
        values: list[bytes] = []
        for _, run_keys, run_values, _ in self.runs[table]:
            keys += map(prefix.__add__, run_keys)
            values += run_values if _coded(run_values) else map(_packed_new, run_values)
        return keys, values

    def finish_streamed(self, txn: WriteTxn, table: str) -> int:
        """The rest of a table whose first appends are in the change table: each key
        written after them folded with its streamed change (an append: nothing before)."""
        head = self.prefix(table)
        done = 0
        for key, first, new in _folded_all(self.table_log(table, streamed=False)):
            full = head + key
            appended = txn.get(CHANGES, full) is not None
            old = None if appended else first  # appended first, in this change: nothing before
            if old == new:
                if appended:
                    txn.delete(CHANGES, full)
                continue
            txn.put(CHANGES, full, pack_change(old, new))
            done += 1
        return done


def _folded_all(log: list[Change]) -> list[Change]:
    """One change per key in key order (before its first change, after its last), those that
    end as they began included."""
    olds: dict[bytes, bytes | None] = {}
    news: dict[bytes, bytes | None] = {}
    for key, old, new in log:
        olds.setdefault(key, old)
        news[key] = new
    return [(k, olds[k], news[k]) for k in sorted(news)]


def record_changes(txn: WriteTxn, version: int, recording: VersionTxn, keep: int) -> int:
    """Write ``version``'s change set (what ``recording`` saw written, less what it wrote
    already) and drop the change sets past ``keep``. Returns the changes written by this
    call. ``txn`` is the commit's own, not a recording one."""
    if recording.streamed and recording.version != version:
        raise StoreError(f"change set written as version {recording.version}, not {version}")
    written = 0
    head = version_prefix(version)
    if txn.get(META, CHANGES_FROM) is None:  # the first version that keeps its changes
        txn.put(META, CHANGES_FROM, str(version).encode())
    # keys sort by table name, then entry key
    for table in sorted(
        VERSIONED_TABLES & {*recording.changes, *recording.runs, *recording.streamed}
    ):
        if table in recording.streamed:
            written += recording.finish_streamed(txn, table)
            continue
        keys, values = recording.packed(table, head + table.encode() + b"\x00")
        if keys:
            txn.put_sorted(CHANGES, list(zip(keys, values, strict=True)))
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
    now = f"; versions.keep = {keep} now" if keep is not None else ""
    return VersionError(
        f"version {version}'s changes were dropped (the oldest kept is {first}{now})"
    )


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
        raw = txn.get(META, SNAPSHOT_AT)
        snapshot = int(raw) if raw else 0
        if base < snapshot:
            raise VersionError(
                f"version {snapshot} loaded a snapshot: no rollback or diff crosses it "
                f"(version {base} is older)"
            )
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
    txn: WriteTxn,
    plan: Plan,
    change: HandsetChange,
    stamp: int,
    keep: int,
    scope: list[tuple[ListName, str]] | None = None,
    keep_sources: frozenset[str] = frozenset(),
    snapshot: bool = False,
) -> tuple[LoadSummary, int]:
    """Put ``plan``'s records back in ``txn`` as a new version (its history record is
    ``change``, its change set kept like any other): returns the summary and the version.
    The caller commits (or aborts: a dry run). ``scope``: the (list, source) its history
    record names (a case action's), none by default; ``keep_sources``: the sources whose
    entries stay as they are (a rollback's: the theft cases'). ``snapshot``: a snapshot
    loaded, which records no change set (:func:`restart_changes`: it would be the whole
    content, and no rollback crosses a snapshot)."""
    recording = txn if snapshot else VersionTxn(txn, keep_runs=False)
    records = plan(txn) if callable(plan) else plan
    summary, delta, touched = restore_records(recording, records, keep_sources)
    batch = Batch(change=change)
    version = update_meta(
        txn,
        summary,
        delta,
        batch,
        Mode.REPLACE,
        scope or [],
        stamp,
        touched=[t.value for t in touched],
    )
    if isinstance(recording, VersionTxn):
        record_changes(txn, version, recording, keep)
    else:
        restart_changes(txn, version)
    return summary, version


def restart_changes(txn: WriteTxn, version: int) -> None:
    """After a snapshot loaded as ``version``: every change set dropped, the next version's
    the first kept (a diff or rollback never crosses the snapshot)."""
    keys = [bytes(key) for key, _ in txn.items(CHANGES)]
    if keys:
        txn.delete_many(CHANGES, keys)
    txn.put(META, CHANGES_FROM, str(version + 1).encode())
    txn.put(META, SNAPSHOT_AT, str(version).encode())
