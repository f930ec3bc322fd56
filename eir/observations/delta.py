"""The message a node publishes its changed pairs in (MQTT topic ``<prefix>/observations/<node>``),
and its checked decoding.

A delta carries *state*, not operations: each pair's whole record as the node holds it now
(:mod:`eir.observations.record`), so a receiver merges it idempotently and a repeated, late or
reordered delta changes nothing. JSON, one object::

    {"v": 1, "node": "eir-1", "pairs": [[imei, imsi, first, last, [day, ...], count], ...]}

Nodes never trust the bytes: :func:`decode_delta` checks every field and refuses the whole
message when one is wrong (:class:`ObservationError`).

Layer 1: pure, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from eir.observations.record import (
    ObservationError,
    Observed,
    PairRecord,
    check_node,
    check_pair,
    check_received,
    checked,
)

VERSION = 1
#: the most pairs one message carries (a bigger delta is cut into several)
MAX_PAIRS = 2_000
#: the largest message accepted (a full message of MAX_PAIRS pairs seen on many days fits)
MAX_BYTES = 4 << 20


def observations_topic(prefix: str, node: str) -> str:
    return f"{prefix}/observations/{node}"


def observations_filter(prefix: str) -> str:
    """What an aggregator subscribes to: every node's deltas."""
    return f"{prefix}/observations/+"


def resync_topic(prefix: str) -> str:
    """Where an aggregator asks every node, retained, to publish all its records again."""
    return f"{prefix}/observations/resync"


def encode_resync(time: float) -> bytes:
    return json.dumps({"time": int(time)}).encode()


def decode_resync(raw: bytes) -> int:
    """The time of a resync request; anything else is an :class:`ObservationError`."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        doc = None
    if not isinstance(doc, dict) or set(doc) != {"time"} or type(doc["time"]) is not int:
        raise ObservationError('a resync request is not {"time": SECONDS}')
    if doc["time"] < 0:
        raise ObservationError("a resync request's time is negative")
    return int(doc["time"])


class Delta(NamedTuple):
    node: str
    pairs: tuple[Observed, ...]


def encode_delta(node: str, pairs: Sequence[Observed], most: int = MAX_PAIRS) -> Iterator[bytes]:
    """The messages of ``node``'s changed ``pairs``, at most ``most`` pairs each."""
    check_node(node)
    for start in range(0, len(pairs), most):
        rows = [
            [p.imei, p.imsi, p.record.first, p.record.last, list(p.record.days), p.record.checks]
            for p in pairs[start : start + most]
        ]
        yield json.dumps(
            {"v": VERSION, "node": node, "pairs": rows}, separators=(",", ":")
        ).encode()


def _int(value: Any, what: str) -> int:
    if type(value) is not int:
        raise ObservationError(f"{what} {str(value)[:20]!r} is not an integer")
    return value


def _row(row: Any, node: str, index: int, now: float | None) -> Observed:
    if not isinstance(row, list) or len(row) != 6:
        raise ObservationError(f"pair {index} is not [imei, imsi, first, last, days, count]")
    imei, imsi, first, last, days, count = row
    if not isinstance(imei, str) or not isinstance(imsi, str):
        raise ObservationError(f"pair {index}: IMEI and IMSI must be strings of digits")
    try:
        check_pair(imei, imsi)
    except ObservationError as exc:
        raise ObservationError(f"pair {index}: {exc}") from None
    if not isinstance(days, list):
        raise ObservationError(f"pair {index}: days is not a list")
    record = PairRecord(
        _int(first, "first seen"),
        _int(last, "last seen"),
        tuple(_int(day, "day") for day in days),
        _int(count, "count"),
    )
    try:
        record = checked(record)
        if now is not None:
            record = check_received(record, now)
        return Observed(imei, imsi, node, record)
    except ObservationError as exc:
        raise ObservationError(f"pair {index} ({imei}+{imsi}): {exc}") from None


def decode_delta(raw: bytes, now: float | None = None) -> Delta:
    """A received delta, every field checked; anything wrong is an :class:`ObservationError`
    and nothing of the message is used. ``now``: the receiver's wall clock, and every record
    must fit it (:func:`check_received`); None (the simulator's days) checks no clock."""
    if len(raw) > MAX_BYTES:
        raise ObservationError(f"a delta of {len(raw)} octets is over {MAX_BYTES}")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ObservationError(f"a delta is not JSON: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != {"v", "node", "pairs"}:
        raise ObservationError('a delta is not {"v", "node", "pairs"}')
    if doc["v"] != VERSION:
        raise ObservationError(f"delta version {str(doc['v'])[:10]!r} is not {VERSION}")
    node, rows = doc["node"], doc["pairs"]
    if not isinstance(node, str):
        raise ObservationError("a delta's node is not a string")
    check_node(node)
    if not isinstance(rows, list) or len(rows) > MAX_PAIRS:
        raise ObservationError(f"a delta's pairs are not a list of at most {MAX_PAIRS}")
    return Delta(node, tuple(_row(row, node, i, now) for i, row in enumerate(rows)))
