"""The observation store: one LMDB environment of its own (``observations.path``), never the
list store's, so that a list load and the observation writer never wait for each other's write
transaction (LMDB has one writer per environment).

Tables:

* ``pair``: key ``imei + imsi + "/" + node`` -> :func:`~eir.observations.record.encode` record;
* ``imsi``: key ``imsi + "/" + imei`` -> empty: the IMEIs an IMSI was seen with;
* ``outbox``: keys of ``pair`` this node changed and has not published yet;
* ``meta``: ``clock``, the newest last-seen time merged (u64): the store's own "now", taken from
  the observations, never from the wall clock (so days of simulated traffic take seconds);
  ``resync``, the time of the last aggregator's resync request this node served (u64).

It holds full IMSIs: personal data (docs/observations.md). Several processes may write one
environment (LMDB serialises the writers).
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from time import monotonic
from typing import Any, NamedTuple

import lmdb

from eir.config import Config
from eir.errors import StoreError
from eir.observations.record import (
    Observed,
    PairRecord,
    Sighting,
    add,
    check_node,
    decode,
    encode,
    key_of,
    merge,
    pair_prefix,
    seen_at,
    split_key,
    trim,
)

PAIR = "pair"
IMSI = "imsi"
OUTBOX = "outbox"
META = "meta"
TABLES = (PAIR, IMSI, OUTBOX, META)
_CLOCK = b"clock"
_RESYNC = b"resync"
_U64 = struct.Struct(">Q")
_MB = 1 << 20
#: the most other IMEIs (IMSIs) a pairing change names
MAX_OTHERS = 10
#: records one retention step reads (one write transaction)
PURGE_STEP = 50_000


def observations_path(config: Config) -> str:
    """Where the observation store is: ``observations.path``, else ``observations.lmdb``
    beside the list store (``store.path``)."""
    if config.observations.path:
        return config.observations.path
    return str(Path(config.store.path).parent / "observations.lmdb")


def open_observations(
    config: Config, path: str | None = None, *, readonly: bool = False
) -> ObservationStore:
    """The observation store as the configuration says (``path`` overrides it)."""
    settings = config.observations
    return ObservationStore(
        path or observations_path(config),
        map_size_mb=settings.map_size_mb,
        max_map_size_mb=config.store.max_map_size_mb,
        sync=settings.sync,
        readonly=readonly,
        read_snapshot_ms=config.store.read_snapshot_ms,
    )


class PairingChange(NamedTuple):
    """A pair seen for the first time whose IMSI or IMEI was seen before with another.

    ``kind`` ``"handset"``: the subscriber (IMSI) uses a new handset, ``others`` its previous
    IMEIs; ``"sim"``: the handset (IMEI) has a new SIM, ``others`` its previous IMSIs.
    """

    kind: str
    imei: str
    imsi: str
    others: tuple[str, ...]
    time: int


class ObserveResult(NamedTuple):
    #: pair records written (one per distinct pair in the batch)
    pairs: int
    #: pairs never seen before by any node
    new: int
    changes: tuple[PairingChange, ...]
    #: the IMEIs whose pairs changed
    imeis: frozenset[str]


class PurgeStep(NamedTuple):
    deleted: int
    trimmed: int
    #: the key the next step starts at; None when the whole store was seen
    next: bytes | None


class MergeResult(NamedTuple):
    #: records received, and those that changed what the store held
    received: int
    changed: int
    imeis: frozenset[str]


class ObservationStats(NamedTuple):
    records: int
    pairs_marked: int
    clock: int
    size_bytes: int
    used_bytes: int
    #: distinct IMEI-IMSI pairs (over every node)
    pairs: int = 0


class ObservationStore:
    """The observation store (see the module's docstring)."""

    def __init__(
        self,
        path: str | Path,
        *,
        map_size_mb: int = 256,
        max_map_size_mb: int = 262_144,
        sync: bool = True,
        readonly: bool = False,
        read_snapshot_ms: int = 0,
    ) -> None:
        self.path = str(path)
        self._max_map = max_map_size_mb * _MB
        self._snapshot_age = read_snapshot_ms / 1000
        self._reader: Any = None  # the read snapshot first_seen shares, renewed when old
        self._reader_born = 0.0
        #: held while the shared snapshot is used, and while the map is resized (the writer's
        #: thread): LMDB resizes only with no transaction open in the process
        self._reader_lock = threading.RLock()
        try:
            if not readonly:
                Path(self.path).mkdir(parents=True, exist_ok=True)
            self._env = lmdb.open(
                self.path,
                map_size=map_size_mb * _MB,
                max_dbs=len(TABLES),
                sync=sync,
                readonly=readonly,
                readahead=False,
                max_readers=512,
            )
            with self._env.begin(write=not readonly) as txn:
                self._dbs = {
                    name: self._env.open_db(name.encode(), txn=txn, create=not readonly)
                    for name in TABLES
                }
        except lmdb.Error as exc:
            raise StoreError(f"{self.path}: cannot open the observation store: {exc}") from None
        except OSError as exc:
            raise StoreError(
                f"{self.path}: cannot open the observation store: {exc.strerror}"
            ) from None

    # -- transactions ---------------------------------------------------------------------

    def _begin(self, write: bool = False) -> Any:
        try:
            return self._env.begin(write=write)
        except lmdb.MapResizedError:
            with self._reader_lock:
                self._drop_reader()
                self._env.set_mapsize(0)  # another process grew the map: adopt its size
            return self._env.begin(write=write)

    @property
    def holds_snapshot(self) -> bool:
        """Whether the read snapshot :meth:`first_seen` shares is open."""
        return self._reader is not None

    def _drop_old_reader(self) -> None:
        """The shared snapshot ended once older than ``read_snapshot_ms``, though no check
        asked since: an old reader would keep the pages every write frees from reuse, and the
        store would grow."""
        if self._reader is None:
            return
        with self._reader_lock:
            if self._reader is not None and monotonic() - self._reader_born > self._snapshot_age:
                self._drop_reader()

    def _drop_reader(self) -> None:
        if self._reader is not None:
            self._reader.abort()
            self._reader = None

    def _write(self, work: Any) -> Any:
        """Run ``work(txn)`` in one write transaction, growing a full map and retrying."""
        self._drop_old_reader()
        while True:
            txn = self._begin(write=True)
            try:
                result = work(txn)
                txn.commit()
                return result
            except lmdb.MapFullError:
                txn.abort()
                self._grow()
            except lmdb.Error as exc:
                txn.abort()
                raise StoreError(f"{self.path}: {exc}") from None
            except BaseException:
                txn.abort()
                raise

    def _grow(self) -> None:
        size = self._env.info()["map_size"]
        if size >= self._max_map:
            raise StoreError(f"{self.path}: the observation store is full ({size >> 20} MiB)")
        with self._reader_lock:
            self._drop_reader()
            self._env.set_mapsize(min(size * 2, self._max_map))

    # -- writing --------------------------------------------------------------------------

    def observe(
        self,
        node: str,
        sightings: Iterable[Sighting | tuple[str, str, float]],
        *,
        publish: bool = True,
    ) -> ObserveResult:
        """This node's ``sightings``, added to its records in one transaction and (``publish``)
        marked for publishing: a node without a broker leaves the outbox empty. Pairs never
        seen before are told as :class:`PairingChange` when their IMSI or IMEI was seen with
        another."""
        check_node(node)
        batch: dict[tuple[str, str], PairRecord] = {}
        for imei, imsi, time in sightings:
            seen = seen_at(time)
            old = batch.get((imei, imsi))
            batch[imei, imsi] = seen if old is None else add(old, seen)
        if not batch:
            return ObserveResult(0, 0, (), frozenset())
        return self._write(lambda txn: self._observe(txn, node, batch, publish))  # type: ignore[no-any-return]

    def _observe(
        self, txn: Any, node: str, batch: dict[tuple[str, str], PairRecord], publish: bool
    ) -> ObserveResult:
        pairs, index, outbox = self._dbs[PAIR], self._dbs[IMSI], self._dbs[OUTBOX]
        changes: list[PairingChange] = []
        new = 0
        newest = 0
        for (imei, imsi), seen in sorted(batch.items()):
            key = key_of(imei, imsi, node)
            old = txn.get(key, db=pairs)
            if old is None and not self._has_pair(txn, imei, imsi):
                new += 1
                changes.extend(self._pairing(txn, imei, imsi, seen.first))
                txn.put(f"{imsi}/{imei}".encode(), b"", db=index)
            record = seen if old is None else add(decode(old), seen)
            txn.put(key, encode(record), db=pairs)
            if publish:
                txn.put(key, b"", db=outbox)
            newest = max(newest, record.last)
        self._advance(txn, newest)
        return ObserveResult(len(batch), new, tuple(changes), frozenset(imei for imei, _ in batch))

    def _has_pair(self, txn: Any, imei: str, imsi: str) -> bool:
        cursor = txn.cursor(db=self._dbs[PAIR])
        prefix = pair_prefix(imei, imsi)
        return bool(cursor.set_range(prefix)) and bytes(cursor.key()).startswith(prefix)

    def _pairing(self, txn: Any, imei: str, imsi: str, time: int) -> list[PairingChange]:
        out = []
        imeis = self._index_imeis(txn, imsi, skip=imei, most=MAX_OTHERS)
        if imeis:
            out.append(PairingChange("handset", imei, imsi, tuple(imeis), time))
        imsis = self._imei_imsis(txn, imei, skip=imsi)
        if imsis:
            out.append(PairingChange("sim", imei, imsi, tuple(imsis), time))
        return out

    def _index_imeis(
        self, txn: Any, imsi: str, skip: str | None = None, most: int | None = None
    ) -> list[str]:
        """The IMEIs ``imsi`` was seen with (but ``skip``), at most ``most``."""
        prefix = f"{imsi}/".encode()
        cursor = txn.cursor(db=self._dbs[IMSI])
        found: list[str] = []
        if not cursor.set_range(prefix):
            return found
        for key in cursor.iternext(values=False):
            if not key.startswith(prefix):
                break
            imei = bytes(key[len(prefix) :]).decode()
            if imei != skip:
                found.append(imei)
                if len(found) == most:
                    break
        return found

    def _imei_imsis(
        self, txn: Any, imei: str, skip: str | None = None, most: int = MAX_OTHERS
    ) -> list[str]:
        """The IMSIs ``imei`` was seen with (but ``skip``), at most ``most``: read from the
        keys alone (imei + imsi + "/" + node), no record decoded."""
        prefix = imei.encode()
        cursor = txn.cursor(db=self._dbs[PAIR])
        found: list[str] = []
        if not cursor.set_range(prefix):
            return found
        width = len(prefix)
        for key in cursor.iternext(values=False):
            if not key.startswith(prefix):
                break
            imsi = bytes(key[width : key.index(b"/", width)]).decode()
            if imsi != skip and imsi not in found:
                found.append(imsi)
                if len(found) >= most:
                    break
        return found

    def _advance(self, txn: Any, newest: int) -> None:
        meta = self._dbs[META]
        raw = txn.get(_CLOCK, db=meta)
        if raw is None or _U64.unpack(raw)[0] < newest:
            txn.put(_CLOCK, _U64.pack(newest), db=meta)

    def merge(self, observed: Iterable[Observed]) -> MergeResult:
        """Records other nodes published, merged into theirs (:func:`merge`: idempotent); not
        marked for publishing."""
        rows = list(observed)
        if not rows:
            return MergeResult(0, 0, frozenset())
        return self._write(lambda txn: self._merge(txn, rows))  # type: ignore[no-any-return]

    def _merge(self, txn: Any, rows: list[Observed]) -> MergeResult:
        pairs, index = self._dbs[PAIR], self._dbs[IMSI]
        changed = 0
        imeis: set[str] = set()
        newest = 0
        for imei, imsi, node, record in rows:
            key = key_of(imei, imsi, node)
            raw = txn.get(key, db=pairs)
            merged = record if raw is None else merge(decode(raw), record)
            newest = max(newest, merged.last)
            if raw is not None and merged == decode(raw):
                continue
            if raw is None:
                txn.put(f"{imsi}/{imei}".encode(), b"", db=index)
            txn.put(key, encode(merged), db=pairs)
            changed += 1
            imeis.add(imei)
        self._advance(txn, newest)
        return MergeResult(len(rows), changed, frozenset(imeis))

    def published(self, sent: Sequence[Observed]) -> int:
        """Unmark the records of ``sent`` that are still as sent (a record that changed since
        stays marked, so its new state goes out too). Returns how many were unmarked."""

        def work(txn: Any) -> int:
            pairs, outbox = self._dbs[PAIR], self._dbs[OUTBOX]
            done = 0
            for imei, imsi, node, record in sent:
                key = key_of(imei, imsi, node)
                raw = txn.get(key, db=pairs)
                if raw is None or decode(raw) == record:
                    done += txn.delete(key, db=outbox)
            return done

        return self._write(work)  # type: ignore[no-any-return]

    def resend(self, node: str, request: int) -> int | None:
        """An aggregator's resync request made at ``request``: every record of ``node`` marked
        for publishing again (their whole state; merging it twice changes nothing), once per
        request. None when a request as new was already served; else how many were marked."""
        check_node(node)
        suffix = f"/{node}".encode()

        def work(txn: Any) -> int | None:
            meta, outbox = self._dbs[META], self._dbs[OUTBOX]
            served = txn.get(_RESYNC, db=meta)
            if served is not None and _U64.unpack(served)[0] >= request:
                return None
            marked = 0
            for key in txn.cursor(db=self._dbs[PAIR]).iternext(values=False):
                if bytes(key).endswith(suffix) and split_key(bytes(key))[2] == node:
                    txn.put(bytes(key), b"", db=outbox)
                    marked += 1
            txn.put(_RESYNC, _U64.pack(request), db=meta)
            return marked

        return self._write(work)  # type: ignore[no-any-return]

    def purge(self, first_day: int) -> tuple[int, int]:
        """Retention: drop the days before ``first_day`` and the records last seen before it,
        in steps of :data:`PURGE_STEP` records (one transaction each, so that the other
        writers wait for one step at most). Returns (records deleted, records trimmed)."""
        deleted = trimmed = 0
        start: bytes | None = b""
        while start is not None:
            step = self.purge_step(first_day, start)
            deleted, trimmed = deleted + step.deleted, trimmed + step.trimmed
            start = step.next
        return deleted, trimmed

    def purge_step(self, first_day: int, start: bytes = b"", most: int = PURGE_STEP) -> PurgeStep:
        """One step of :meth:`purge`: about ``most`` records from the key ``start`` on (a
        pair's records are never split over two steps), in one transaction."""
        return self._write(partial(self._purge_step, first_day=first_day, start=start, most=most))  # type: ignore[no-any-return]

    def _purge_step(self, txn: Any, first_day: int, start: bytes, most: int) -> PurgeStep:
        index, outbox = self._dbs[IMSI], self._dbs[OUTBOX]
        cursor = txn.cursor(db=self._dbs[PAIR])
        deleted = trimmed = seen = 0
        gone: set[tuple[str, str]] = set()
        kept: set[tuple[str, str]] = set()
        last: tuple[str, str] | None = None
        found = cursor.set_range(start)
        while found:
            key = bytes(cursor.key())
            imei, imsi, _ = split_key(key)
            if seen >= most and (imei, imsi) != last:
                break
            last = imei, imsi
            seen += 1
            record = decode(cursor.value())
            left = trim(record, first_day)
            if left is None:
                txn.delete(key, db=outbox)
                cursor.delete()  # and onto the next record, if any
                found = bool(cursor.key())
                gone.add(last)
                deleted += 1
                continue
            kept.add(last)
            if left != record:
                cursor.put(key, encode(left))
                trimmed += 1
            found = cursor.next()
        for imei, imsi in gone - kept:
            txn.delete(f"{imsi}/{imei}".encode(), db=index)
        return PurgeStep(deleted, trimmed, bytes(cursor.key()) if found else None)

    # -- reading --------------------------------------------------------------------------

    def _records(self, txn: Any, prefix: bytes) -> Iterator[Observed]:
        cursor = txn.cursor(db=self._dbs[PAIR])
        if not cursor.set_range(prefix):
            return
        for key, raw in cursor:
            if not key.startswith(prefix):
                return
            imei, imsi, node = split_key(bytes(key))
            yield Observed(imei, imsi, node, decode(raw))

    def _read(self, work: Any) -> Any:
        txn = self._begin()
        try:
            return work(txn)
        except lmdb.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from None
        finally:
            txn.abort()

    def pairs(self, imei: str) -> list[Observed]:
        """Every node's records of the IMEI's pairs, by IMSI then node."""
        return self._read(lambda txn: list(self._records(txn, imei.encode())))  # type: ignore[no-any-return]

    def by_imsi(self, imsi: str) -> list[Observed]:
        """Every node's records of the pairs the IMSI was seen in, by IMEI then node."""

        def work(txn: Any) -> list[Observed]:
            out: list[Observed] = []
            for imei in self._index_imeis(txn, imsi):
                out.extend(self._records(txn, pair_prefix(imei, imsi)))
            return out

        return self._read(work)  # type: ignore[no-any-return]

    def scan(self, start: str = "") -> Iterator[Observed]:
        """Every record, by IMEI, IMSI and node, from one snapshot (a generator: close it, or
        run it to the end, to end the snapshot)."""
        txn = self._begin()
        try:
            yield from (
                self._records(txn, start.encode())
                if start
                else (
                    Observed(*split_key(bytes(key)), decode(raw))
                    for key, raw in txn.cursor(db=self._dbs[PAIR])
                )
            )
        finally:
            txn.abort()

    def outbox(self, most: int) -> list[Observed]:
        """Up to ``most`` records this node changed and has not published, as they are now."""

        def work(txn: Any) -> list[Observed]:
            pairs = self._dbs[PAIR]
            out: list[Observed] = []
            for key in txn.cursor(db=self._dbs[OUTBOX]).iternext(values=False):
                raw = txn.get(key, db=pairs)
                if raw is not None:
                    out.append(Observed(*split_key(bytes(key)), decode(raw)))
                    if len(out) >= most:
                        break
            return out

        return self._read(work)  # type: ignore[no-any-return]

    def clock(self) -> int:
        """The newest last-seen time the store holds (0 when empty): its "now"."""
        raw = self._read(lambda txn: txn.get(_CLOCK, db=self._dbs[META]))
        return 0 if raw is None else int(_U64.unpack(raw)[0])

    def stats(self) -> ObservationStats:
        def work(txn: Any) -> ObservationStats:
            info, stat = self._env.info(), self._env.stat()
            records = txn.stat(self._dbs[PAIR])["entries"]
            marked = txn.stat(self._dbs[OUTBOX])["entries"]
            used = (info["last_pgno"] + 1) * stat["psize"]
            raw = txn.get(_CLOCK, db=self._dbs[META])
            clock = 0 if raw is None else int(_U64.unpack(raw)[0])
            pairs = txn.stat(self._dbs[IMSI])["entries"]
            return ObservationStats(records, marked, clock, info["map_size"], used, pairs)

        return self._read(work)  # type: ignore[no-any-return]

    def close(self) -> None:
        with self._reader_lock:
            self._drop_reader()
        self._env.close()

    def first_seen(self, imei: str) -> int | None:
        """When any node first saw the IMEI (its 14 digits) with any IMSI, seconds since the
        epoch; None when never. One cursor range over the IMEI's records (a handful: one per
        IMSI and node) in a read snapshot shared for up to ``read_snapshot_ms`` (as the list
        store's lookups; 0: one per call), so a write is seen within that time. The policy
        asks it only for a device rule with an exemption that matched (through the cache of
        `eir.observing.first_seen`). On a plain node it knows that node's sightings; on the
        aggregating node, every node's. For one thread (the event loop) only."""
        if self._snapshot_age <= 0:
            return self._read(lambda txn: _first_seen(txn, self._dbs[PAIR], imei))  # type: ignore[no-any-return]
        now = monotonic()
        with self._reader_lock:
            try:
                if self._reader is None or now - self._reader_born > self._snapshot_age:
                    self._drop_reader()
                    self._reader, self._reader_born = self._begin(), now
                return _first_seen(self._reader, self._dbs[PAIR], imei)
            except lmdb.Error as exc:
                self._drop_reader()
                raise StoreError(f"{self.path}: {exc}") from None


def _first_seen(txn: Any, pairs: Any, imei: str) -> int | None:
    """The earliest first-seen time of the IMEI's records in one snapshot (None: none)."""
    cursor = txn.cursor(db=pairs)
    prefix = imei.encode()
    if not cursor.set_range(prefix):
        return None
    first: int | None = None
    for key, raw in cursor:
        if not key.startswith(prefix):
            break
        seen = decode(raw).first
        first = seen if first is None else min(first, seen)
    return first
