"""List distribution over MQTT: topics, the version record, and the follower that keeps one
node's lists in step with what was published. Sans-IO: messages and time in, actions out.

Design (docs/events.md says it for operators):

* Each update has a sequence number. ``eir publish`` reads the retained head, writes the
  update's parts as **retained** messages at ``<prefix>/lists/log/<seq>/<part>``, and then the
  retained head ``<prefix>/lists/head`` = ``{"seq", "id", "parts", "time", ...}``. The broker
  thus keeps every update (the log) and always tells a (re)connecting client the latest one.
* A node subscribes to the head. Whenever the head is ahead of the version it has applied, it
  fetches the *next* update by subscribing to that update's log topic (the broker sends the
  retained parts), checks and applies it in one LMDB transaction that also records the new
  version, and goes on with the next. So updates are applied in order and once (a repeated or
  older part or head is ignored), and a node that was down, or missed messages while the broker
  restarted, catches up from the log by itself: a gap is simply a head ahead of its version.
* A node publishes ``<prefix>/nodes/<node>`` (retained): its applied version, and "offline" as
  its last will.
* Snapshots bound the log: ``eir publish --snapshot`` writes the whole content of a store at
  the head as the retained parts of ``<prefix>/lists/snapshot/<part>``, the head then names it
  (``snapshot``: its seq S, ``snapshot_id``, ``snapshot_parts``), and the log's updates up to S
  are deleted. A node whose version is below S fetches and loads the snapshot (version S) and
  then follows the log from S + 1; a node at S or later keeps replaying the log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from eir.publish.update import Part, UpdateError, decode_part, join_parts

SEQ_DIGITS = 12
PART_DIGITS = 6


def head_topic(prefix: str) -> str:
    return f"{prefix}/lists/head"


def log_filter(prefix: str, seq: int) -> str:
    return f"{prefix}/lists/log/{seq:0{SEQ_DIGITS}d}/+"


def part_topic(prefix: str, seq: int, index: int) -> str:
    return f"{prefix}/lists/log/{seq:0{SEQ_DIGITS}d}/{index:0{PART_DIGITS}d}"


def snapshot_filter(prefix: str) -> str:
    return f"{prefix}/lists/snapshot/+"


def snapshot_topic(prefix: str, index: int) -> str:
    return f"{prefix}/lists/snapshot/{index:0{PART_DIGITS}d}"


def node_topic(prefix: str, node: str) -> str:
    return f"{prefix}/nodes/{node}"


def version_key(prefix: str) -> bytes:
    """The ``meta`` key of the last update applied from ``prefix``."""
    return b"update\x00" + prefix.encode()


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    id: str
    parts: int
    time: int
    entries: int = 0
    #: the snapshot of the log (its seq S; 0: none), its id and its number of parts
    snapshot: int = 0
    snapshot_id: str = ""
    snapshot_parts: int = 0

    def payload(self) -> bytes:
        data: dict[str, object] = {
            "seq": self.seq,
            "id": self.id,
            "parts": self.parts,
            "time": self.time,
            "entries": self.entries,
        }
        if self.snapshot:
            data |= {
                "snapshot": self.snapshot,
                "snapshot_id": self.snapshot_id,
                "snapshot_parts": self.snapshot_parts,
            }
        return json.dumps(data).encode()


def decode_head(payload: bytes) -> Head:
    try:
        data = json.loads(payload)
        head = Head(
            int(data["seq"]),
            str(data["id"]),
            int(data["parts"]),
            int(data["time"]),
            int(data.get("entries", 0)),
            int(data.get("snapshot", 0)),
            str(data.get("snapshot_id", "")),
            int(data.get("snapshot_parts", 0)),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise UpdateError(f"the list head is not valid: {exc}") from None
    if head.seq < 0 or head.parts < 1:
        raise UpdateError("the list head is not valid: seq or parts out of range")
    if not 0 <= head.snapshot <= head.seq or (head.snapshot and head.snapshot_parts < 1):
        raise UpdateError("the list head is not valid: snapshot out of range")
    return head


@dataclass(frozen=True, slots=True)
class Version:
    """What a node has applied from one prefix (kept in its store's ``meta``)."""

    seq: int = 0
    id: str = ""
    time: int = 0  # the update's own time (the publisher's clock)
    applied: float = 0.0  # when this node applied it

    def payload(self) -> bytes:
        return json.dumps(
            {"seq": self.seq, "id": self.id, "time": self.time, "applied": self.applied}
        ).encode()


def decode_version(raw: bytes | None) -> Version:
    if not raw:
        return Version()
    data = json.loads(raw)
    return Version(int(data["seq"]), str(data["id"]), int(data["time"]), float(data["applied"]))


# -- actions the adapter carries out ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscribe:
    topic: str


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    topic: str


@dataclass(frozen=True, slots=True)
class Apply:
    """Check and apply this blob as update ``seq`` (``snapshot``: load it as snapshot
    ``seq``), then call ``applied`` or ``failed``."""

    seq: int
    blob: bytes
    snapshot: bool = False


@dataclass(frozen=True, slots=True)
class Warn:
    text: str


Action = Subscribe | Unsubscribe | Apply | Warn


@dataclass
class _Fetch:
    seq: int
    topic: str
    deadline: float
    parts: dict[int, Part] = field(default_factory=dict)
    #: a snapshot's fetch: the id its parts carry
    snapshot_id: bytes | None = None


class ListFollower:
    """Follows ``<prefix>/lists/``: head in, fetches out, one update at a time, in order."""

    def __init__(
        self,
        prefix: str,
        applied: int,
        fetch_timeout: float,
        retry_min: float = 1.0,
        retry_max: float = 60.0,
    ) -> None:
        self.prefix = prefix
        self.applied = applied
        self.head: Head | None = None
        self.fetch_timeout = fetch_timeout
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._retry = retry_min
        self._retry_at = 0.0
        self._fetch: _Fetch | None = None
        self.applying: int | None = None
        self.failures = 0
        self._head_topic = head_topic(prefix)
        self._log_prefix = f"{prefix}/lists/log/"
        self._snapshot_prefix = f"{prefix}/lists/snapshot/"

    # -- inputs -----------------------------------------------------------------------------

    def connected(self, now: float) -> list[Action]:
        """A (new) connection: subscribe to the head, and again to the fetch under way."""
        actions: list[Action] = [Subscribe(self._head_topic)]
        if self._fetch is not None:
            self._fetch.deadline = now + self.fetch_timeout
            actions.append(Subscribe(self._fetch.topic))
        return actions

    def message(self, topic: str, payload: bytes, now: float) -> list[Action]:
        if topic == self._head_topic:
            return self._on_head(payload, now)
        if topic.startswith((self._log_prefix, self._snapshot_prefix)):
            return self._on_part(payload, now)
        return []

    def applied_ok(self, seq: int, now: float) -> list[Action]:
        """The adapter applied update ``seq`` (or found it applied already)."""
        self.applying = None
        self.applied = max(self.applied, seq)
        self._retry = self._retry_min
        return list(self._next(now))

    def failed(self, seq: int, reason: str, now: float) -> list[Action]:
        """Update ``seq`` could not be applied; it is fetched again after a backoff."""
        self.applying = None
        return [Warn(f"list update #{seq} not applied: {reason}"), *self._backoff(now)]

    def timer(self, now: float) -> list[Action]:
        fetch = self._fetch
        if fetch is not None and now >= fetch.deadline:
            self._fetch = None
            count = next(iter(fetch.parts.values())).count if fetch.parts else "?"
            return [
                Unsubscribe(fetch.topic),
                Warn(
                    f"list update #{fetch.seq}: {len(fetch.parts)} of {count} parts "
                    f"after {self.fetch_timeout:g} s; fetching it again later"
                ),
                *self._backoff(now),
            ]
        if fetch is None and self.applying is None and self._retry_at and now >= self._retry_at:
            self._retry_at = 0.0
            return list(self._next(now))
        return []

    def next_timer(self) -> float | None:
        if self._fetch is not None:
            return self._fetch.deadline
        return self._retry_at or None

    # -- inside -----------------------------------------------------------------------------

    def _on_head(self, payload: bytes, now: float) -> list[Action]:
        if not payload:  # a cleared head: nothing published under this prefix
            return []
        try:
            head = decode_head(payload)
        except UpdateError as exc:
            return [Warn(str(exc))]
        self.head = head
        out: list[Action] = []
        if head.seq < self.applied:
            out.append(
                Warn(
                    f"the broker's list head #{head.seq} is behind this node's "
                    f"version #{self.applied}: was the broker's data lost?"
                )
            )
        out += self._next(now)
        return out

    def _on_part(self, payload: bytes, now: float) -> list[Action]:
        fetch = self._fetch
        if fetch is None or not payload:
            return []
        try:
            part = decode_part(payload)
        except UpdateError as exc:
            return [Warn(f"list update #{fetch.seq}: {exc}")]
        if part.seq != fetch.seq or fetch.snapshot_id not in (None, part.id):
            return []
        fetch.parts[part.index] = part
        if len(fetch.parts) < part.count:
            return []
        self._fetch = None
        try:
            blob = join_parts(list(fetch.parts.values()))
        except UpdateError as exc:
            return [Unsubscribe(fetch.topic), Warn(str(exc)), *self._backoff(now)]
        self.applying = fetch.seq
        snapshot = fetch.snapshot_id is not None
        return [Unsubscribe(fetch.topic), Apply(fetch.seq, blob, snapshot)]

    def _next(self, now: float) -> Iterator[Action]:
        head = self.head
        if (
            self._fetch is not None
            or self.applying is not None
            or head is None
            or head.seq <= self.applied
            or (self._retry_at and now < self._retry_at)
        ):
            return
        if head.snapshot > self.applied:  # the log before the snapshot may be gone: load it
            topic = snapshot_filter(self.prefix)
            snapshot_id = _id_bytes(head.snapshot_id)
            self._fetch = _Fetch(head.snapshot, topic, now + self.fetch_timeout, {}, snapshot_id)
            yield Subscribe(topic)
            return
        seq = self.applied + 1
        topic = log_filter(self.prefix, seq)
        self._fetch = _Fetch(seq, topic, now + self.fetch_timeout)
        yield Subscribe(topic)

    def _backoff(self, now: float) -> list[Action]:
        self.failures += 1
        self._retry_at = now + self._retry
        self._retry = min(self._retry * 2, self._retry_max)
        return []


def _id_bytes(text: str) -> bytes:
    """A head's snapshot id as its parts carry it (an id that is not hex matches no part)."""
    try:
        return bytes.fromhex(text)
    except ValueError:
        return b"?"


def describe(head: Head | None) -> dict[str, Any]:
    return {} if head is None else {"seq": head.seq, "id": head.id, "parts": head.parts}
