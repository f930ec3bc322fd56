"""One observed IMEI-IMSI pair as one node saw it, and how two such states merge.

A pair's state on a node is a :class:`PairRecord`: first and last seen (seconds since the
epoch, UTC), the UTC days it was seen on, and how many checks carried it. Nodes share *state*,
never operations, so merging is idempotent, commutative and associative (:func:`merge`: min of
first, max of last, union of days, max of count): any order, any repetition, any loss followed
by a later publish of the same node's state converges to the same record. Only the node that
saw the checks adds to its own record (:func:`add`).

Keys: ``imei (14 digits) + imsi (6 to 15 digits) + "/" + node`` (ASCII, node UTF-8), so one
IMEI's pairs are one key range.

Layer 1: pure, no I/O.
"""

from __future__ import annotations

import re
import struct
from itertools import pairwise
from typing import NamedTuple

from eir.errors import EirError

#: seconds of a day: a day number is ``int(time // DAY)`` (UTC)
DAY = 86_400
#: a day number is stored in 2 octets: times up to 2149-06-06
MAX_DAY = 0xFFFF
MAX_TIME = (MAX_DAY + 1) * DAY - 1
MAX_COUNT = 0xFFFF_FFFF
#: the longest node name (UTF-8 octets)
MAX_NODE = 64
#: how far past a receiver's own clock a received record may be last seen (clocks drift):
#: later, the record is refused (`check_received`), or it would move the observation clock
#: into the future and empty every duplicate window
FUTURE_TOLERANCE = DAY
#: the earliest time a received record may be first seen (2000-01-01T00:00:00Z)
EARLIEST = 946_684_800

_HEAD = struct.Struct(">QQIH")
_IMEI = re.compile(r"[0-9]{14}")
_IMSI = re.compile(r"[0-9]{6,15}")
_KEY = re.compile(rb"([0-9]{14})([0-9]{6,15})/(.+)", re.DOTALL)


class ObservationError(EirError):
    """An observation, a record or a delta that is not well formed."""


class PairRecord(NamedTuple):
    """What one node saw of one IMEI-IMSI pair."""

    #: first and last sighting, seconds since the epoch (UTC)
    first: int
    last: int
    #: the UTC day numbers (``time // DAY``) it was seen on, sorted, distinct
    days: tuple[int, ...]
    #: how many checks carried the pair
    checks: int


class Observed(NamedTuple):
    """A pair record with its pair and the node that saw it."""

    imei: str
    imsi: str
    node: str
    record: PairRecord


class Sighting(NamedTuple):
    """One check that carried an IMSI, as the answer path appends it (IMEI of 14 digits)."""

    imei: str
    imsi: str
    time: float


def day_of(time: float) -> int:
    """The UTC day number of ``time`` (seconds since the epoch)."""
    return int(time // DAY)


def seen_at(time: float, count: int = 1) -> PairRecord:
    """The record of ``count`` sightings at one ``time``."""
    second = int(time)
    return PairRecord(second, second, (second // DAY,), count)


def _union(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    if a == b or not b:
        return a
    if not a:
        return b
    if a[-1] < b[0]:
        return a + b
    return tuple(sorted(set(a).union(b)))


def merge(a: PairRecord, b: PairRecord) -> PairRecord:
    """Two states of one node's record (a repeated or reordered delta): idempotent,
    commutative, associative."""
    return PairRecord(
        min(a.first, b.first), max(a.last, b.last), _union(a.days, b.days), max(a.checks, b.checks)
    )


def add(a: PairRecord, b: PairRecord) -> PairRecord:
    """New sightings ``b`` on the node that owns ``a``: the counts add up."""
    return PairRecord(
        min(a.first, b.first),
        max(a.last, b.last),
        _union(a.days, b.days),
        min(a.checks + b.checks, MAX_COUNT),
    )


def trim(record: PairRecord, first_day: int) -> PairRecord | None:
    """``record`` without the days before ``first_day`` (retention); None when it was last
    seen before that day. ``first`` stays: when a pair was first seen is what grandfathering
    asks."""
    if record.last // DAY < first_day:
        return None
    if not record.days or record.days[0] >= first_day:
        return record
    return record._replace(days=tuple(d for d in record.days if d >= first_day))


def encode(record: PairRecord) -> bytes:
    """The stored form: first, last (u64), count (u32), number of days (u16), days (u16 each),
    big-endian."""
    days = record.days
    return _HEAD.pack(record.first, record.last, record.checks, len(days)) + struct.pack(
        f">{len(days)}H", *days
    )


def decode(raw: bytes) -> PairRecord:
    """A stored record; anything damaged is an :class:`ObservationError`."""
    if len(raw) < _HEAD.size:
        raise ObservationError(f"a pair record of {len(raw)} octets is too short")
    first, last, count, n = _HEAD.unpack_from(raw)
    if len(raw) != _HEAD.size + 2 * n:
        raise ObservationError(f"a pair record of {len(raw)} octets does not hold {n} days")
    days = struct.unpack_from(f">{n}H", raw, _HEAD.size)
    return checked(PairRecord(first, last, days, count))


def checked(record: PairRecord) -> PairRecord:
    """``record`` when it is consistent, else an :class:`ObservationError` saying why."""
    first, last, days, count = record
    if not 0 <= first <= last <= MAX_TIME:
        raise ObservationError(f"first seen {first} and last seen {last} are out of order")
    if not 1 <= count <= MAX_COUNT:
        raise ObservationError(f"count {count} is not between 1 and {MAX_COUNT}")
    if not days:
        raise ObservationError("a pair record has no day")
    if any(b <= a for a, b in pairwise(days)):
        raise ObservationError("the days of a pair record are not sorted and distinct")
    if days[0] < first // DAY or days[-1] != last // DAY:
        raise ObservationError("the days of a pair record do not lie from first to last seen")
    return record


def check_received(record: PairRecord, now: float) -> PairRecord:
    """``record`` as a receiver takes it (a delta merged, a file imported) on a wall clock at
    ``now``: an :class:`ObservationError` when it is last seen more than
    :data:`FUTURE_TOLERANCE` after ``now``, or first seen before :data:`EARLIEST` (a node
    with a wrong clock). :func:`checked` alone stays free of any clock (simulated days)."""
    if record.last > now + FUTURE_TOLERANCE:
        raise ObservationError(
            f"last seen {record.last} is later than this node's clock plus {FUTURE_TOLERANCE} s"
        )
    if record.first < EARLIEST:
        raise ObservationError(f"first seen {record.first} is before {EARLIEST} (2000-01-01)")
    return record


def check_pair(imei: str, imsi: str) -> None:
    """An :class:`ObservationError` unless ``imei`` has 14 digits and ``imsi`` 6 to 15."""
    if not _IMEI.fullmatch(imei):
        raise ObservationError(f"IMEI {imei[:20]!r} is not 14 digits")
    if not _IMSI.fullmatch(imsi):
        raise ObservationError(f"IMSI {imsi[:20]!r} is not 6 to 15 digits")


def check_node(node: str) -> None:
    """An :class:`ObservationError` unless ``node`` can name a node in a key."""
    if not node or len(node.encode()) > MAX_NODE or not node.isprintable():
        raise ObservationError(f"node {node[:70]!r} is not 1 to {MAX_NODE} printable octets")


def key_of(imei: str, imsi: str, node: str) -> bytes:
    return f"{imei}{imsi}/{node}".encode()


def pair_prefix(imei: str, imsi: str) -> bytes:
    """The key prefix of one pair's records (every node's)."""
    return f"{imei}{imsi}/".encode()


def split_key(key: bytes) -> tuple[str, str, str]:
    """(imei, imsi, node) of a key."""
    found = _KEY.fullmatch(key)
    if found is None:
        raise ObservationError(f"observation key {key[:40]!r} is not imei+imsi/node")
    return found[1].decode(), found[2].decode(), found[3].decode()
