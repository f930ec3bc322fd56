"""The in-memory twin of the LMDB store, for tests: same tables, same records, same semantics.

A load works on a copy and swaps it in only when it succeeds, as an LMDB commit would.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from functools import partial

from eir.devices.packing import build_index
from eir.devices.record import DeviceIndex
from eir.errors import StoreError
from eir.model import Hits, ListName, Match
from eir.store.api import ExportRow, HandsetChange, LoadSummary, Mode, StoreStats, Tick
from eir.store.apply import apply_batch, update_meta
from eir.store.batch import Batch
from eir.store.devices import (
    APPROVED,
    DEVICE,
    STORE_TABLES,
    DeviceStats,
    device_stats,
    record_load,
    replace_table,
)
from eir.store.diff import Change
from eir.store.guard import RemoveLimit
from eir.store.reading import content_digest, counters, export_rows, generation, history
from eir.store.records import RangeIndex, Table, class_index, matches_of
from eir.store.versions import Plan, VersionTxn, record_changes, restore_version
from eir.store.writes import Olds, WriteTxn

_TABLES = STORE_TABLES


class _DictTxn:
    def __init__(self, tables: dict[str, dict[bytes, bytes]]) -> None:
        self.tables = tables

    def get(self, table: str, key: bytes) -> bytes | None:
        return self.tables[table].get(key)

    def put(self, table: str, key: bytes, value: bytes) -> None:
        self.tables[table][key] = value

    def bound(
        self, table: str
    ) -> tuple[Callable[[bytes], bytes | None], Callable[[bytes, bytes], bool]]:
        return self.tables[table].get, partial(self.insert, table)

    def insert(self, table: str, key: bytes, value: bytes) -> bool:
        data = self.tables[table]
        if key in data:
            return False
        data[key] = value
        return True

    def delete(self, table: str, key: bytes) -> None:
        self.tables[table].pop(key, None)

    def items(self, table: str, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        data = self.tables[table]
        keys = sorted(data)
        return ((k, data[k]) for k in keys[bisect_left(keys, start) :])

    def last_key(self, table: str) -> bytes | None:
        data = self.tables[table]
        return max(data) if data else None

    def append_sorted(self, table: str, keys: list[bytes], values: Iterable[bytes]) -> None:
        data = self.tables[table]
        last = max(data) if data else None
        for key, value in zip(keys, values, strict=True):
            if last is not None and key <= last:
                raise StoreError(f"sorted append out of order at {key!r}")
            data[key] = value
            last = key

    def delete_many(self, table: str, keys: list[bytes], olds: list[bytes] | None = None) -> None:
        data = self.tables[table]
        for key in keys:
            data.pop(key, None)

    def put_sorted(
        self,
        table: str,
        items: list[tuple[bytes, bytes]],
        olds: Olds | None = None,
    ) -> None:
        self.tables[table].update(items)

    def scan(self, table: str, chunk: int) -> Iterator[tuple[list[bytes], list[bytes]]]:
        data = self.tables[table]
        keys = sorted(data)
        for start in range(0, len(keys), chunk):
            part = keys[start : start + chunk]
            yield part, [data[k] for k in part]


class _Snapshot(_DictTxn):
    def release(self) -> None:
        """Nothing to release: a load swaps in new tables, this view keeps the old ones."""


class MemoryStore:
    def __init__(self, *, keep_versions: int = 50) -> None:
        #: ``versions.keep``: the newest versions whose change sets are kept
        self.keep_versions = keep_versions
        self._tables: dict[str, dict[bytes, bytes]] = {name: {} for name in _TABLES}
        self._ranges: RangeIndex | None = None  # built on the first lookup after a change
        self._classes: dict[str, tuple[Match, ...]] | None = None  # likewise
        self._devices: DeviceIndex | None = None  # likewise

    def lookup(self, imei14: str, imsi: str | None) -> Hits:
        key = imei14.encode()
        exact = self._tables[Table.IMEI].get(key)
        pair_key = None if imsi is None else key + imsi.encode()
        pair = None if pair_key is None else self._tables[Table.PAIR].get(pair_key)
        ranges = self._ranges
        if ranges is None:
            ranges = self._ranges = RangeIndex(_DictTxn(self._tables).items(Table.RANGE))
        classes = self._classes
        if classes is None:
            classes = self._classes = class_index(self._tables[Table.CLASS].items())
        return Hits(
            pair=() if pair is None or pair_key is None else matches_of(Table.PAIR, pair_key, pair),
            imei=() if exact is None else matches_of(Table.IMEI, key, exact),
            ranges=ranges.lookup(imei14),
            classes=classes.get(imei14, ()),
        )

    def device_index(self) -> DeviceIndex:
        """The device database in memory (built on the first call after a change)."""
        if self._devices is None:
            view = _DictTxn(self._tables)
            self._devices = build_index(view.items(DEVICE), view.items(APPROVED))
        return self._devices

    def device_stats(self, *, digest: bool = True) -> DeviceStats:
        return device_stats(_DictTxn(self._tables), digest=digest)

    def device_items(self, table: str) -> list[tuple[bytes, bytes]]:
        return list(_DictTxn(self._tables).items(table))

    def table_items(self, table: str) -> list[tuple[bytes, bytes]]:
        """As :meth:`LmdbStore.table_items` (the ``case`` table)."""
        return self.device_items(table)

    def table_value(self, table: str, key: bytes) -> bytes | None:
        """As :meth:`LmdbStore.table_value`."""
        return _DictTxn(self._tables).get(table, key)

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
    ) -> LoadSummary:
        """As :meth:`LmdbStore.replace_devices`: on a copy, swapped in when it succeeds."""
        started = time.perf_counter()
        stamp = int(time.time()) if now is None else now
        work = _DictTxn({name: dict(data) for name, data in self._tables.items()})
        summary = replace_table(work, table, items, write=not dry_run)
        summary.rows, summary.duplicates = rows, duplicates
        if not dry_run:
            record_load(
                work,
                table,
                summary,
                count=len(items),
                source=source,
                files=files,
                stamp=stamp,
                change=change,
            )
            self._tables = work.tables
            self._devices = None
        summary.dry_run = dry_run
        summary.seconds = time.perf_counter() - started
        return summary

    def export(
        self, list_name: ListName | None = None, source: str | None = None, *, classes: bool = False
    ) -> Iterator[ExportRow]:
        return export_rows(_DictTxn(self._tables), list_name, source, classes)

    def stats(self, history_size: int = 20, *, digest: bool = True) -> StoreStats:
        view = _DictTxn(self._tables)
        size = sum(len(k) + len(v) for t in self._tables.values() for k, v in t.items())
        return StoreStats(
            counts=counters(view),
            generation=generation(view),
            size_bytes=size,
            used_bytes=size,
            digest=content_digest(view) if digest else "",
            history=history(view, history_size),
        )

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
    ) -> LoadSummary:
        started = time.perf_counter()
        stamp = int(time.time()) if now is None else now
        scope = list(scope)
        work = _DictTxn({name: dict(table) for name, table in self._tables.items()})
        view: WriteTxn = work if dry_run and changes is None else VersionTxn(work)
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
        if isinstance(view, VersionTxn) and changes is not None:
            changes.update(view.all_changes())
        if not dry_run:
            version = update_meta(work, summary, delta, batch, mode, scope, stamp)
            if isinstance(view, VersionTxn):
                record_changes(work, version, view, self.keep_versions)
            self._tables = work.tables
            self._ranges = self._classes = None
        summary.dry_run = dry_run
        summary.seconds = time.perf_counter() - started
        return summary

    def snapshot(self) -> _Snapshot:
        """A read view of the current content (as :meth:`LmdbStore.snapshot`)."""
        return _Snapshot(self._tables)

    def restore(
        self,
        plan: Plan,
        change: HandsetChange,
        *,
        dry_run: bool = False,
        now: int | None = None,
        inside: Callable[[WriteTxn], None] | None = None,
        scope: list[tuple[ListName, str]] | None = None,
        keep_sources: frozenset[str] = frozenset(),
    ) -> tuple[LoadSummary, int]:
        """As :meth:`LmdbStore.restore`: on a copy, swapped in when it succeeds."""
        started = time.perf_counter()
        stamp = int(time.time()) if now is None else now
        work = _DictTxn({name: dict(table) for name, table in self._tables.items()})
        summary, version = restore_version(
            work, plan, change, stamp, self.keep_versions, scope, keep_sources
        )
        if inside is not None and not dry_run:
            inside(work)
        if dry_run:
            version = 0
        else:
            self._tables = work.tables
            self._ranges = self._classes = None
        summary.dry_run = dry_run
        summary.seconds = time.perf_counter() - started
        return summary, version

    def close(self) -> None:
        self._tables = {name: {} for name in _TABLES}
        self._ranges = self._classes = self._devices = None
