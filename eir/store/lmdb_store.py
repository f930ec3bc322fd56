"""The list store on LMDB: one environment, a named database per table, MVCC snapshots.

* A load is one write transaction: readers keep their snapshot until it commits, and a crash,
  a SIGKILL or a bad file leaves the previous lists exactly as they were.
* A full map is grown (doubling, up to the configured ceiling) and the load retried; a full disk
  is a :class:`StoreFullError`, with nothing changed.
* Several processes may read and write one environment; a reader adopts a map grown by another
  process when LMDB reports it.
"""

from __future__ import annotations

import errno
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import islice
from pathlib import Path
from time import monotonic
from typing import Any, TypeVar

import lmdb

from eir.devices.packing import build_index
from eir.devices.record import EMPTY_INDEX, DeviceIndex
from eir.errors import MapGrowthNeededError, StoreError, StoreFullError
from eir.model import NO_HITS, Hits, ListName, Match
from eir.store.api import ExportRow, HandsetChange, LoadSummary, Mode, StoreStats, Tick
from eir.store.apply import apply_batch, update_meta
from eir.store.batch import Batch
from eir.store.devices import (
    APPROVED,
    DEVICE,
    DEVICE_TABLES,
    STORE_TABLES,
    DeviceStats,
    device_stats,
    generations,
    record_load,
    replace_table,
)
from eir.store.diff import Change
from eir.store.guard import RemoveLimit
from eir.store.purge import START, Position, purge_step
from eir.store.reading import (
    content_digest,
    counters,
    export_rows,
    generation,
    has_times,
    history,
)
from eir.store.records import CASES, CHANGES, META, RangeIndex, Table, class_index, matches_of
from eir.store.versions import (
    Plan,
    VersionTxn,
    head_version,
    record_changes,
    restore_version,
)
from eir.store.writes import DryRunTxn, Olds, WriteTxn

T = TypeVar("T")

_TABLES = STORE_TABLES
#: tables a store written before them lacks (a read-only open reads them as empty)
_LATER_TABLES = (Table.CLASS.value, *DEVICE_TABLES, CASES, CHANGES)
_MB = 1 << 20


class _Txn:
    """Adapts an lmdb transaction to the WriteTxn / ReadTxn protocols."""

    def __init__(self, txn: Any, dbs: dict[str, Any]) -> None:
        self._txn = txn
        self._dbs = dbs

    def get(self, table: str, key: bytes) -> bytes | None:
        db = self._dbs.get(table)
        value: bytes | None = None if db is None else self._txn.get(key, db=db)
        return value

    def put(self, table: str, key: bytes, value: bytes) -> None:
        self._txn.put(key, value, db=self._dbs[table])

    def bound(
        self, table: str
    ) -> tuple[Callable[[bytes], bytes | None], Callable[[bytes, bytes], bool]]:
        db = self._dbs[table]
        return partial(self._txn.get, db=db), partial(self._txn.put, db=db, overwrite=False)

    def insert(self, table: str, key: bytes, value: bytes) -> bool:
        done: bool = self._txn.put(key, value, db=self._dbs[table], overwrite=False)
        return done

    def delete(self, table: str, key: bytes) -> None:
        self._txn.delete(key, db=self._dbs[table])

    def delete_many(self, table: str, keys: list[bytes], olds: list[bytes] | None = None) -> None:
        # One cursor: keys in order are found from where it stands, not from the root.
        deque(map(self._txn.cursor(db=self._dbs[table]).pop, keys), maxlen=0)

    def items(self, table: str, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        if table not in self._dbs:  # a read-only store older than its class table
            return iter(())
        cursor = self._txn.cursor(db=self._dbs[table])
        if start and not cursor.set_range(start):
            return iter(())
        return iter(cursor)

    def last_key(self, table: str) -> bytes | None:
        cursor = self._txn.cursor(db=self._dbs[table])
        if not cursor.last():
            return None
        key: bytes = cursor.key()
        return key

    def append_sorted(self, table: str, keys: list[bytes], values: Iterable[bytes]) -> None:
        cursor = self._txn.cursor(db=self._dbs[table])
        _, added = cursor.putmulti(zip(keys, values, strict=True), append=True)
        if added != len(keys):
            raise StoreError(f"sorted append wrote {added} of {len(keys)} keys")

    def put_sorted(
        self,
        table: str,
        items: list[tuple[bytes, bytes]],
        olds: Olds | None = None,
    ) -> None:
        cursor = self._txn.cursor(db=self._dbs[table])
        consumed, _ = cursor.putmulti(items, dupdata=False, overwrite=True)
        if consumed != len(items):
            raise StoreError(f"sorted put wrote {consumed} of {len(items)} keys")

    def scan(self, table: str, chunk: int) -> Iterator[tuple[list[bytes], list[bytes]]]:
        # Two cursors, one for keys and one for values: cheaper than pairs split afterwards.
        db = self._dbs[table]
        keys = self._txn.cursor(db=db).iternext(keys=True, values=False)
        values = self._txn.cursor(db=db).iternext(keys=False, values=True)
        while part := list(islice(keys, chunk)):
            yield part, list(islice(values, chunk))


def _view(
    txn: _Txn, mode: Mode, dry_run: bool, changes: dict[str, list[Change]] | None
) -> WriteTxn:
    """What a load writes through: a replace's dry run skips its writes (:class:`DryRunTxn`),
    and a change (its version's change set, :mod:`eir.store.versions`) or a dry run's
    ``changes`` wanted are recorded (:class:`RecordingTxn`)."""
    view: WriteTxn = DryRunTxn(txn) if dry_run and mode is Mode.REPLACE else txn
    if dry_run:
        return view if changes is None else VersionTxn(view)
    # the version this change makes: the history's next
    return VersionTxn(view, out=txn, version=head_version(txn) + 1, keep_runs=changes is not None)


def _store_error(exc: lmdb.Error, path: str) -> StoreError:
    """A clear error for a failed write. LMDB writes its meta page last, so a failed write or
    commit leaves the previous lists in place."""
    text = str(exc)
    if isinstance(exc, lmdb.MapFullError):
        return StoreFullError(
            f"{path}: the LMDB map is full at its ceiling "
            "(raise store.max_map_size_mb); nothing was changed"
        )
    for code, what in (
        (errno.ENOSPC, "no space left on device"),
        (errno.EFBIG, "file too large for this file system or limit"),
        (errno.EDQUOT, "disk quota exceeded"),
        (errno.EIO, "a write failed (a full disk or a file size limit?)"),
    ):
        if os.strerror(code) in text:
            return StoreFullError(
                f"{path}: cannot write the store: {what} [{text}]; nothing was changed"
            )
    return StoreError(f"{path}: {text}")


#: how a missing store is made, told by :class:`MissingStoreError` (``eir serve`` adds its own)
CREATE_ADVICE = "create one with `eir load`"


class MissingStoreError(StoreError):
    """A path that holds no list store, opened without ``create``: the one message of it,
    which a command may extend with its own advice."""

    def __init__(self, path: str, advice: str = CREATE_ADVICE) -> None:
        super().__init__(f"{path}: no list store here ({advice})")


def has_store(path: str | Path) -> bool:
    """Whether ``path`` holds a list store (its LMDB data file)."""
    return (Path(path) / "data.mdb").exists()


class LmdbStore:
    def __init__(
        self,
        path: str | Path,
        *,
        map_size_mb: int = 1024,
        max_map_size_mb: int = 262144,
        sync: bool = True,
        create: bool = True,
        readonly: bool = False,
        read_snapshot_ms: int = 50,
        keep_versions: int = 50,
        case_source: str = "case",
    ) -> None:
        self.path = str(path)
        #: ``versions.keep``: the newest versions whose change sets are kept
        self.keep_versions = keep_versions
        #: ``cases.source``: its entries change only by ``eir case`` (a rollback keeps them)
        self.case_sources = frozenset({case_source})
        self._snapshot_age = read_snapshot_ms / 1000
        self._max_map = max_map_size_mb * _MB
        folder = Path(self.path)
        if not create and not has_store(folder):
            raise MissingStoreError(self.path)
        try:
            if create:
                folder.mkdir(parents=True, exist_ok=True)
            self._env = lmdb.open(
                self.path,
                map_size=map_size_mb * _MB,
                max_dbs=len(_TABLES),
                sync=sync,
                readonly=readonly,
                readahead=False,
                max_readers=512,
            )
            if readonly:
                self._dbs = self._open_readonly()
            else:
                self._dbs = {n: self._env.open_db(n.encode()) for n in _TABLES}
        except lmdb.Error as exc:
            raise StoreError(f"{self.path}: cannot open the list store: {exc}") from None
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot open the list store: {exc.strerror}") from None
        # Enum hashing runs Python code: keep the hot handles in plain attributes.
        self._imei_db = self._dbs[Table.IMEI]
        self._pair_db = self._dbs[Table.PAIR]
        self._range_generation: bytes | None = b"never"
        self._ranges = RangeIndex(())
        self._has_ranges = False
        self._class_generation: bytes | None = b"never"
        #: the class table in memory (IMEI -> its classes), rebuilt when the table changes;
        #: empty (falsy) when no class is held, so a lookup then costs one test
        self._classes: dict[str, tuple[Match, ...]] = {}
        self._device_generation: bytes | None = b"never"
        #: the device database in memory, rebuilt when the device or approved table changes
        self._devices: DeviceIndex = EMPTY_INDEX
        self._reader: Any = None  # the read snapshot lookups share, renewed when old
        self._reader_born = 0.0

    def _open_readonly(self) -> dict[str, Any]:
        """The tables of a store opened read-only: a store written before the class table
        has none (it reads as empty)."""
        with self._env.begin() as txn:
            # named databases are keys of the main one: a failed open would spoil the txn
            names = [
                n for n in _TABLES if n not in _LATER_TABLES or txn.get(n.encode()) is not None
            ]
            return {n: self._env.open_db(n.encode(), txn=txn, create=False) for n in names}

    # -- reading ------------------------------------------------------------------------------

    def _begin(self, write: bool = False) -> Any:
        try:
            return self._env.begin(write=write)
        except lmdb.MapResizedError:
            self._env.set_mapsize(0)  # another process grew the map: adopt its size
            return self._env.begin(write=write)

    def _renew_reader(self, now: float) -> Any:
        """A new shared read snapshot (the old one is older than ``read_snapshot_ms``)."""
        if self._reader is not None:
            self._reader.abort()
            self._reader = None
        txn = self._begin()
        self._reader, self._reader_born = txn, now
        current = txn.get(b"generation:range", db=self._dbs[META])
        if current != self._range_generation:
            self._ranges = RangeIndex(iter(txn.cursor(db=self._dbs[Table.RANGE])))
            self._range_generation = current
            self._has_ranges = self._ranges.count > 0
        current = txn.get(b"generation:class", db=self._dbs[META])
        if current != self._class_generation:
            self._classes = class_index(_Txn(txn, self._dbs).items(Table.CLASS))
            self._class_generation = current
        self._refresh_devices(_Txn(txn, self._dbs))
        return txn

    def _refresh_devices(self, view: _Txn) -> None:
        """The device index rebuilt when the device or approved table changed."""
        current = generations(view)
        if current != self._device_generation:
            self._devices = build_index(view.items(DEVICE), view.items(APPROVED))
            self._device_generation = current

    def device_index(self) -> DeviceIndex:
        """The device database in memory, from the shared read snapshot (renewed when old,
        as for :meth:`lookup`): the same object until the device tables change."""
        now = monotonic()
        if self._reader is None or now - self._reader_born > self._snapshot_age:
            self._renew_reader(now)
        return self._devices

    def lookup(self, imei14: str, imsi: str | None) -> Hits:
        """Everything the lists hold for one IMEI (and IMSI), from one snapshot.

        Lookups share a read snapshot for up to ``read_snapshot_ms`` (50 ms by default), so a
        committed load is seen within that time. For one thread (the event loop) only.
        """
        key = imei14.encode()
        now = monotonic()
        txn = self._reader
        if txn is None or now - self._reader_born > self._snapshot_age:
            txn = self._renew_reader(now)
        exact = txn.get(key, db=self._imei_db)
        pair_key = pair = None
        if imsi is not None:
            pair_key = key + imsi.encode()
            pair = txn.get(pair_key, db=self._pair_db)
        ranges = self._ranges.lookup(imei14) if self._has_ranges else ()
        classes = self._classes.get(imei14, ()) if self._classes else ()
        if exact is None and pair is None and not ranges and not classes:
            return NO_HITS
        return Hits(
            pair=() if pair is None or pair_key is None else matches_of(Table.PAIR, pair_key, pair),
            imei=() if exact is None else matches_of(Table.IMEI, key, exact),
            ranges=ranges,
            classes=classes,
        )

    def snapshot(self) -> _Snapshot:
        """A read transaction for several reads from one snapshot; call ``release`` after."""
        return _Snapshot(self._begin(), self._dbs)

    def export(
        self, list_name: ListName | None = None, source: str | None = None, *, classes: bool = False
    ) -> Iterator[ExportRow]:
        txn = self._begin()
        try:
            yield from export_rows(_Txn(txn, self._dbs), list_name, source, classes)
        finally:
            txn.abort()

    def stats(self, history_size: int = 20, *, digest: bool = True) -> StoreStats:
        """Counters, generation, sizes, load history and (unless ``digest`` is False: it reads
        every entry, 16 s for 10 million) the content digest."""
        txn = self._begin()
        try:
            view = _Txn(txn, self._dbs)
            info = self._env.info()
            stat = self._env.stat()
            return StoreStats(
                counts=counters(view),
                generation=generation(view),
                size_bytes=os.path.getsize(os.path.join(self.path, "data.mdb")),
                used_bytes=(info["last_pgno"] + 1) * stat["psize"],
                digest=content_digest(view) if digest else "",
                history=history(view, history_size),
            )
        finally:
            txn.abort()

    def device_stats(self, *, digest: bool = True) -> DeviceStats:
        """Counts, sources, generations and (unless not ``digest``) digest of the device
        database."""
        txn = self._begin()
        try:
            return device_stats(_Txn(txn, self._dbs), digest=digest)
        finally:
            txn.abort()

    def device_items(self, table: str) -> list[tuple[bytes, bytes]]:
        """A device table's (key, value) items in key order, from one snapshot."""
        txn = self._begin()
        try:
            return [(bytes(k), bytes(v)) for k, v in _Txn(txn, self._dbs).items(table)]
        finally:
            txn.abort()

    # -- writing ------------------------------------------------------------------------------

    def apply(
        self,
        batch: Batch,
        mode: Mode,
        scope: Iterable[tuple[ListName, str]],
        *,
        dry_run: bool = False,
        now: int | None = None,
        remove_any_source: bool = False,
        tick: Tick | None = None,
        max_remove: RemoveLimit | None = None,
        changes: dict[str, list[Change]] | None = None,
        max_pairs: int = 0,
        inside: Callable[[WriteTxn], None] | None = None,
        may_grow: bool = True,
    ) -> LoadSummary:
        """Apply a load in one transaction; grow the map and retry when it is full.

        ``inside(txn)`` runs in the same transaction after the entries are written and before
        the commit: it may read and write ``meta`` (a list update's version) or raise to abort
        everything. With ``may_grow`` False a full map raises :class:`MapGrowthNeededError` instead
        of growing: a thread other than the one holding read snapshots cannot grow the map.
        ``max_remove`` refuses a replace that removes more (nothing changed, see
        :mod:`eir.store.guard`); ``changes`` is filled with each table's changed keys, their
        records before and after (:mod:`eir.store.diff`).
        """
        started = time.perf_counter()
        stamp = int(time.time()) if now is None else now
        scope = list(scope)

        def work(base: _Txn) -> tuple[LoadSummary, WriteTxn]:
            view = _view(base, mode, dry_run, changes)
            summary, delta = apply_batch(
                view,
                batch,
                mode,
                scope,
                stamp,
                remove_any_source=remove_any_source,
                tick=tick,
                max_remove=max_remove,
                max_pairs=max_pairs,
            )
            if not dry_run:
                version = update_meta(view, summary, delta, batch, mode, scope, stamp)
                if isinstance(view, VersionTxn):
                    record_changes(base, version, view, self.keep_versions)
                if inside is not None:
                    inside(view)
            return summary, view

        summary, recording = self.write(work, may_grow=may_grow, commit=not dry_run)
        if changes is not None and isinstance(recording, VersionTxn):
            changes.update(recording.all_changes())
        summary.dry_run = dry_run
        summary.seconds = time.perf_counter() - started
        return summary

    def has_times(self) -> bool:
        """Whether any list entry has times (``eir export`` then writes their columns)."""
        txn = self._begin()
        try:
            return has_times(_Txn(txn, self._dbs))
        finally:
            txn.abort()

    def purge(
        self,
        now: float,
        batch: int,
        change: HandsetChange,
        *,
        dry_run: bool = False,
        versions: list[int] | None = None,
        may_grow: bool = True,
    ) -> LoadSummary:
        """Delete the entries whose ``expires`` is at or before ``now`` (:mod:`eir.store.purge`),
        ``batch`` entries per transaction, each step a version recorded with ``change``
        (appended to ``versions`` when given). A dry run counts them and changes nothing."""
        started = time.perf_counter()
        total = LoadSummary(dry_run=dry_run)
        position: Position | None = START
        while position is not None:
            summary, position, seq = self._purge_step(
                now, batch, change, position, dry_run, may_grow
            )
            total.removed += summary.removed
            total.rows += summary.rows
            if seq and versions is not None:
                versions.append(seq)
        total.seconds = time.perf_counter() - started
        return total

    def _purge_step(
        self,
        now: float,
        batch: int,
        change: HandsetChange,
        position: Position,
        dry_run: bool,
        may_grow: bool,
    ) -> tuple[LoadSummary, Position | None, int]:
        """One step of :meth:`purge` in one transaction: its summary, where the next starts
        and the version it made (0: none)."""
        limit = (1 << 62) if dry_run else batch
        keep = self.keep_versions
        return self.write(
            lambda view: purge_step(view, now, limit, change, position, keep, write=not dry_run),
            may_grow=may_grow,
            commit=not dry_run,
        )

    def restore(
        self,
        plan: Plan,
        change: HandsetChange,
        *,
        dry_run: bool = False,
        now: int | None = None,
        inside: Callable[[WriteTxn], None] | None = None,
        may_grow: bool = True,
        scope: list[tuple[ListName, str]] | None = None,
        keep_sources: frozenset[str] = frozenset(),
    ) -> tuple[LoadSummary, int]:
        """Put records back as they were (:func:`eir.store.versions.restore_version`: a
        rollback, a restore update, a snapshot) as one new version, in one transaction;
        ``inside`` as for :meth:`apply`; ``scope`` the (list, source) the history names;
        ``keep_sources`` the sources whose entries stay as they are (a rollback: the cases').
        Returns the summary and the version (0: a dry run)."""
        started = time.perf_counter()
        stamp = int(time.time()) if now is None else now

        def work(view: _Txn) -> tuple[LoadSummary, int]:
            summary, version = restore_version(
                view, plan, change, stamp, self.keep_versions, scope, keep_sources
            )
            if inside is not None and not dry_run:
                inside(view)
            return summary, version

        summary, version = self.write(work, may_grow=may_grow, commit=not dry_run)
        summary.dry_run = dry_run
        summary.seconds = time.perf_counter() - started
        return summary, 0 if dry_run else version

    def table_items(self, table: str) -> list[tuple[bytes, bytes]]:
        """A table's (key, value) items in key order, from one snapshot (the ``case`` table)."""
        return self.device_items(table)

    def table_value(self, table: str, key: bytes) -> bytes | None:
        """One value of a table, from a fresh snapshot."""
        txn = self._begin()
        try:
            value = _Txn(txn, self._dbs).get(table, key)
            return None if value is None else bytes(value)
        finally:
            txn.abort()

    def replace_devices(
        self,
        table: str,
        items: list[tuple[bytes, bytes]],
        *,
        source: str,
        files: list[str],
        rows: int = 0,
        duplicates: int = 0,
        dry_run: bool = False,
        now: int | None = None,
        change: HandsetChange | None = None,
        inside: Callable[[WriteTxn], None] | None = None,
        may_grow: bool = True,
    ) -> LoadSummary:
        """Make ``items`` (sorted, unique keys) the whole of device table ``table`` (``device``
        or ``approved``) in one transaction, recorded in ``meta`` (``change``: its audit);
        ``inside`` as for :meth:`apply`. A failure changes nothing."""
        started = time.perf_counter()
        stamp = int(time.time()) if now is None else now

        def work(view: _Txn) -> LoadSummary:
            summary = replace_table(view, table, items, write=not dry_run)
            summary.rows, summary.duplicates = rows, duplicates
            if not dry_run:
                record_load(
                    view,
                    table,
                    summary,
                    count=len(items),
                    source=source,
                    files=files,
                    stamp=stamp,
                    change=change,
                )
                if inside is not None:
                    inside(view)
            return summary

        summary = self.write(work, may_grow=may_grow, commit=not dry_run)
        summary.dry_run = dry_run
        summary.seconds = time.perf_counter() - started
        return summary

    def write(self, work: Callable[[_Txn], T], *, may_grow: bool = True, commit: bool = True) -> T:
        """Run ``work(txn)`` in one write transaction and commit (``commit`` False: abort, a
        dry run); anything it raises aborts it all. A full map grows (and ``work`` runs
        again) or, without ``may_grow``, raises :class:`MapGrowthNeededError`: a thread other
        than the one holding read snapshots cannot grow the map. Every write of the store
        goes through here."""
        while True:
            txn = self._begin(write=True)
            try:
                result = work(_Txn(txn, self._dbs))
                if commit:
                    txn.commit()
                else:
                    txn.abort()
            except lmdb.MapFullError:
                txn.abort()
                self._full(may_grow)
                continue
            except lmdb.Error as exc:
                txn.abort()
                raise _store_error(exc, self.path) from None
            except BaseException:
                txn.abort()
                raise
            return result

    def _full(self, may_grow: bool) -> None:
        """The map filled up: grow it (the caller retries), or say it must grow."""
        if not may_grow:
            size = self._env.info()["map_size"]
            if size >= self._max_map:
                raise _store_error(lmdb.MapFullError("full"), self.path) from None
            raise MapGrowthNeededError(f"{self.path}: the map ({size >> 20} MiB) must grow")
        self._grow()

    def grow_map(self) -> None:
        """Double the map (up to the ceiling); closes this store's shared read snapshot first.
        Call it from the thread that makes lookups, between them."""
        if self._reader is not None:
            self._reader.abort()
            self._reader = None
        self._grow()

    def meta_value(self, key: bytes) -> bytes | None:
        """One value of the ``meta`` table, from a fresh snapshot."""
        txn = self._begin()
        try:
            value: bytes | None = txn.get(key, db=self._dbs[META])
            return value
        finally:
            txn.abort()

    def meta_items(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        """The ``meta`` entries whose keys start with ``prefix``, from a fresh snapshot."""
        txn = self._begin()
        try:
            out = []
            for key, value in _Txn(txn, self._dbs).items(META, prefix):
                if not key.startswith(prefix):
                    break
                out.append((bytes(key), bytes(value)))
            return out
        finally:
            txn.abort()

    def _grow(self) -> None:
        size = self._env.info()["map_size"]
        if size >= self._max_map:
            raise _store_error(lmdb.MapFullError("full"), self.path)
        self._env.set_mapsize(min(size * 2, self._max_map))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.abort()
            self._reader = None
        self._env.close()


class _Snapshot(_Txn):
    def release(self) -> None:
        self._txn.abort()
