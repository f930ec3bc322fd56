"""One simulator process: its connections, the pacing, the check of every answer, and one
`Tick` a second. A plain `selectors` loop (no asyncio: the hot path is a few dict operations per
answer, and the loop must never be what limits the rate).

Pacing:
* open loop (`rate`): request i is due at its intended time t0 + schedule(i); its latency is
  measured from that time, so a server that stalls the client cannot hide its delay (requests
  held back by the in-flight limit keep their intended times);
* closed loop (`concurrency`): each connection keeps its share of requests in flight, and the
  latency is measured from the actual send.
"""

from __future__ import annotations

import math
import os
import selectors
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from eir.framing import DIAMETER, Framing
from sim.link import Link, Target
from sim.probes import Outcome, Probe
from sim.stats import EXAMPLES, Counts, Tick

#: how often in-flight requests are checked against the timeout
SWEEP_S = 0.1
#: longest wait for DPA / ASPDN-ACK when leaving
GOODBYE_S = 2.0


class Client(Protocol):
    """What `sim.mme_role.S13Client` and `sim.msc_role.MapClient` offer the loop."""

    failure: str

    @property
    def framing(self) -> Framing: ...

    @property
    def ready(self) -> bool: ...
    @property
    def closed(self) -> bool: ...
    def data_to_send(self) -> bytes: ...
    def get_timer(self) -> float | None: ...
    def handle_timer(self, now: float) -> None: ...
    def close(self, now: float) -> None: ...
    def connection_lost(self) -> None: ...
    def request(self, index: int, seq: int) -> bytes: ...
    def receive(
        self, data: bytes, now: float, answer: Callable[[int, Outcome | None], None]
    ) -> None: ...
    def message(self) -> bytes: ...


@dataclass(frozen=True)
class Schedule:
    """Open-loop send times: `rate` requests/s, reached linearly over `ramp_s` from
    `ramp_from`; `phase` shifts this process's requests between other processes'."""

    rate: float
    ramp_s: float = 0.0
    ramp_from: float = 0.0
    phase: float = 0.0

    def due(self, elapsed: float) -> int:
        """How many requests are due `elapsed` seconds after the start."""
        t = elapsed - self.phase
        if t < 0:
            return 0
        if self.ramp_s <= 0 or t >= self.ramp_s:
            base = 0.0 if self.ramp_s <= 0 else self._ramped(self.ramp_s)
            return int(base + (t - max(self.ramp_s, 0.0)) * self.rate) + 1
        return int(self._ramped(t)) + 1

    def _ramped(self, t: float) -> float:
        return self.ramp_from * t + (self.rate - self.ramp_from) * t * t / (2 * self.ramp_s)

    def time_of(self, i: int) -> float:
        """The intended send time of request i (0-based), in seconds after the start."""
        if self.ramp_s > 0:
            in_ramp = self._ramped(self.ramp_s)
            if i < in_ramp:
                # the root of a t^2 + b t = i, in the form that does not cancel when a is small
                a = (self.rate - self.ramp_from) / (2 * self.ramp_s)
                b = self.ramp_from
                return (
                    self.phase + 2 * i / (b + math.sqrt(b * b + 4 * a * i)) if i else (self.phase)
                )
            return self.phase + self.ramp_s + (i - in_ramp) / self.rate
        return self.phase + i / self.rate


@dataclass
class Job:
    """What one process does."""

    flow: str
    target: Target
    connections: int
    make_client: Callable[[int, float], Client]
    connect: Callable[[Target], Link]
    probes: list[Probe]
    first_probe: int = 0
    schedule: Schedule | None = None  # open loop
    concurrency: int = 0  # closed loop, this process's share
    requests: int | None = None  # this process's share
    duration_s: float | None = None
    timeout_s: float = 5.0
    max_in_flight: int = 100_000
    connect_timeout_s: float = 10.0


@dataclass
class _Conn:
    index: int
    link: Link
    client: Client
    inflight: dict[int, tuple[float, int]] = field(default_factory=dict)
    seq: int = 1
    window: int = 0
    up: bool = True
    answer: Callable[[int, Outcome | None], None] | None = None


class HandshakeError(Exception):
    pass


class Worker:
    """Runs a `Job`; `emit` receives one `Tick` a second and a last one at the end."""

    def __init__(self, job: Job, emit: Callable[[Tick], None]) -> None:
        self.job = job
        self.emit = emit
        self.sel = selectors.DefaultSelector()
        self.conns: list[_Conn] = []
        self.counts = Counts()
        self.latencies: list[float] = []
        #: answers by outcome (None: undecodable) since the last tick
        self.outcomes: dict[Outcome | None, int] = {}
        self.now = time.perf_counter()
        self.t0 = self.now
        self.sent = 0
        self.next_probe = job.first_probe
        self.sending = True
        #: when sending stopped, in seconds after the start (the last second's covered part)
        self.sent_until: float | None = None
        self.last_answer = 0.0
        self.answer_time = 0.0
        self._cpu = _cpu()
        self.expected = [p.expected for p in job.probes]
        #: what the target said of its software in the handshake (the S13 CEA)
        self.peer_says: dict[str, Any] = {}

    # --- setup -------------------------------------------------------------------------------

    def connect(self) -> None:
        """Open every connection and finish its handshake (CER/CEA, ASPUP/ASPAC)."""
        job = self.job
        for index in range(job.connections):
            try:
                link = job.connect(job.target)
            except OSError as exc:
                raise HandshakeError(
                    f"{job.target}: cannot connect: {exc.strerror or exc}"
                ) from None
            client = job.make_client(index, time.perf_counter())
            conn = _Conn(index, link, client)
            self.conns.append(conn)
            self.sel.register(link.sock, selectors.EVENT_READ, conn)
            try:
                link.send(client.data_to_send())
            except OSError as exc:
                raise HandshakeError(f"{job.target}: cannot send: {exc.strerror or exc}") from None
        deadline = time.perf_counter() + job.connect_timeout_s
        while not all(c.client.ready for c in self.conns):
            now = time.perf_counter()
            for conn in self.conns:
                if conn.client.closed:
                    raise HandshakeError(f"{job.target}: {conn.client.failure or 'closed'}")
            if now > deadline:
                waiting = (
                    "CEA" if self.conns[0].client.framing is DIAMETER else "ASPUP-ACK / ASPAC-ACK"
                )
                raise HandshakeError(
                    f"{job.target}: no {waiting} within {job.connect_timeout_s:g} s"
                )
            self._poll(min(0.05, deadline - now))
            self._timers(time.perf_counter())
        self.peer_says = dict(getattr(self.conns[0].client, "peer_says", {}) if self.conns else {})

    # --- the run -----------------------------------------------------------------------------

    def run(self, t0: float) -> None:
        job = self.job
        self.t0 = t0
        self._cpu = _cpu()  # the client's CPU per request counts the run, not the setup
        if job.schedule is None:
            self._share_windows()
        while time.perf_counter() < t0:
            time.sleep(min(0.001, max(0.0, t0 - time.perf_counter())))
        end = None if job.duration_s is None else t0 + job.duration_s
        second = 0
        next_sweep = t0 + SWEEP_S
        drain_until: float | None = None
        while True:
            now = self.now = time.perf_counter()
            if self.sending and self._all_sent(now, end):
                self.sending = False
                self.sent_until = min(now, end or now) - t0
                drain_until = now + job.timeout_s
            if self.sending:
                self._send_more(now)
            self._poll(self._poll_timeout(now))
            now = self.now = time.perf_counter()
            if now >= next_sweep:
                self._sweep(now)
                self._timers(now)
                next_sweep = now + SWEEP_S
            current = int(now - t0)
            if current > second:
                self._tick(second)
                second = current
            if not self.sending and self._drained(now, drain_until):
                break
        self._sweep(time.perf_counter(), final=True)
        self._goodbye()
        self._tick(second, final=True)

    def _share_windows(self) -> None:
        """Closed loop: each connection's share of the requests in flight."""
        share, extra = divmod(max(self.job.concurrency, 1), len(self.conns))
        for conn in self.conns:
            conn.window = share + (1 if conn.index < extra else 0)

    def _all_sent(self, now: float, end: float | None) -> bool:
        """The duration is over or every request of the job was sent."""
        requests = self.job.requests
        return (end is not None and now >= end) or (requests is not None and self.sent >= requests)

    def _send_more(self, now: float) -> None:
        if self.job.schedule is not None:
            self._send_due(now)
        else:
            self._fill(now)

    def _poll_timeout(self, now: float) -> float:
        """How long to wait for input: until the next request is due in an open loop."""
        schedule = self.job.schedule
        if not self.sending or schedule is None:
            return 0.05
        ahead = self.t0 + schedule.time_of(self.sent) - now
        return min(0.05, max(ahead, 0.0))

    def _drained(self, now: float, drain_until: float | None) -> bool:
        """Sending is over: every answer is in, or the wait for them is."""
        in_flight = sum(len(c.inflight) for c in self.conns if c.up)
        return in_flight == 0 or (drain_until is not None and now >= drain_until)

    def _send_due(self, now: float) -> None:
        job = self.job
        schedule = job.schedule
        assert schedule is not None
        due = schedule.due(now - self.t0)
        if job.requests is not None:
            due = min(due, job.requests)
        todo = min(due - self.sent, 4096)
        if todo <= 0:
            return
        up = [c for c in self.conns if c.up and not c.link.congested]
        if not up:
            return
        room = job.max_in_flight - sum(len(c.inflight) for c in up)
        todo = min(todo, room)
        t0 = self.t0
        probes = len(job.probes)
        batches: dict[int, list[bytes]] = {}
        n = len(up)
        for k in range(todo):
            conn = up[(self.sent + k) % n]
            seq = conn.seq
            conn.seq = seq + 1 if seq < 0xFFFFFFFF else 1
            index = self.next_probe
            self.next_probe = index + 1 if index + 1 < probes else 0
            conn.inflight[seq] = (t0 + schedule.time_of(self.sent + k), index)
            batches.setdefault(conn.index, []).append(conn.client.request(index, seq))
        self._account(todo)
        for conn in up:
            out = batches.get(conn.index)
            if out:
                self._send(conn, b"".join(out))

    def _fill(self, now: float) -> None:
        job = self.job
        limit = None if job.requests is None else job.requests - self.sent
        probes = len(job.probes)
        total = 0
        for conn in self.conns:
            if not conn.up or conn.link.congested:
                continue
            want = conn.window - len(conn.inflight)
            if limit is not None:
                want = min(want, limit - total)
            if want <= 0:
                continue
            out = []
            request = conn.client.request
            inflight = conn.inflight
            for _ in range(want):
                seq = conn.seq
                conn.seq = seq + 1 if seq < 0xFFFFFFFF else 1
                index = self.next_probe
                self.next_probe = index + 1 if index + 1 < probes else 0
                inflight[seq] = (now, index)
                out.append(request(index, seq))
            total += want
            self._send(conn, b"".join(out))
        self._account(total)

    def _send(self, conn: _Conn, data: bytes) -> bool:
        """Queue and write `data`; a reset or broken pipe loses the connection (False)."""
        try:
            conn.link.send(data)
        except OSError as exc:
            self._lost(conn, f"send failed: {exc.strerror or exc}")
            return False
        return True

    def _account(self, count: int) -> None:
        self.sent += count
        self.counts.sent += count

    def _poll(self, timeout: float) -> None:
        ready = self.sel.select(timeout)
        self.now = time.perf_counter()
        for key, events in ready:
            conn: _Conn = key.data
            if events & selectors.EVENT_WRITE and not self._writable(conn):
                continue
            if events & selectors.EVENT_READ:
                self._readable(conn)

    def _writable(self, conn: _Conn) -> bool:
        """Write what is queued; False when the connection was lost doing so."""
        try:
            if conn.link.flush():
                self.sel.modify(conn.link.sock, selectors.EVENT_READ, conn)
        except OSError as exc:
            self._lost(conn, f"send failed: {exc.strerror or exc}")
            return False
        return True

    def _readable(self, conn: _Conn) -> None:
        try:
            data = conn.link.recv()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(conn, f"receive failed: {exc.strerror or exc}")
            return
        if not data:
            self._lost(conn, "the server closed the connection")
            return
        self._received(conn, data)

    def _received(self, conn: _Conn, data: bytes) -> None:
        """Give `data` to the client (answers are counted), send what it has to say."""
        before = len(conn.inflight)
        conn.client.receive(data, self.now, self._answer_of(conn))
        if len(conn.inflight) < before:
            self.answer_time = self.now
        out = conn.client.data_to_send()
        if out and not self._send(conn, out):
            return
        if conn.link.pending:
            self.sel.modify(conn.link.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)
        if conn.client.closed and conn.up and self.sending:
            self._lost(conn, conn.client.failure or "closed by the protocol")

    def _answer_of(self, conn: _Conn) -> Callable[[int, Outcome | None], None]:
        if conn.answer is not None:
            return conn.answer
        inflight = conn.inflight
        counts = self.counts
        latencies = self.latencies
        expected = self.expected
        outcomes = self.outcomes
        client = conn.client

        def on_answer(key: int, outcome: Outcome | None) -> None:
            record = inflight.pop(key, None)
            if record is None:
                counts.late += 1
                return
            latencies.append(self.now - record[0])
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if outcome is not expected[record[1]]:
                self._check(record[1], outcome, client)

        conn.answer = on_answer
        return on_answer

    def _check(self, index: int, outcome: Outcome | None, client: Client) -> None:
        counts = self.counts
        if outcome is None:
            counts.errors += 1
            counts.error_kinds["undecodable answer"] += 1
            self._example("error", index, "undecodable answer", client.message())
            return
        want = self.expected[index]
        if outcome != want:
            counts.mismatches += 1
            kind = f"expected {want}, got {outcome}"
            counts.mismatch_kinds[kind] += 1
            self._example("mismatch", index, kind, client.message())

    def _example(self, what: str, index: int, text: str, message: bytes) -> None:
        if len(self.counts.examples) >= EXAMPLES:
            return
        probe = self.job.probes[index]
        self.counts.examples.append(
            {
                "what": what,
                "flow": self.job.flow,
                "request": probe.describe(),
                "expected": str(probe.expected),
                "detail": text,
                "answer_hex": message.hex(),
            }
        )

    def _lost(self, conn: _Conn, reason: str) -> None:
        if not conn.up:
            return
        conn.up = False
        lost = len(conn.inflight)
        if lost:
            self.counts.errors += lost
            self.counts.error_kinds[f"connection lost: {reason}"] += lost
            conn.inflight.clear()
        elif self.sending:  # said even with nothing in flight; after the run, a close is normal
            self.counts.error_kinds[f"connection lost: {reason}"] += 0
        conn.client.connection_lost()
        self.sel.unregister(conn.link.sock)
        conn.link.close()
        if all(not c.up for c in self.conns) and self.sending:
            self.sending = False
            self.sent_until = self.now - self.t0
            self.counts.stopped.append(f"{self.job.flow}: every connection was lost ({reason})")

    def _sweep(self, now: float, final: bool = False) -> None:
        limit = now - self.job.timeout_s
        for conn in self.conns:
            expired = []
            for key, (intended, _index) in conn.inflight.items():
                if intended > limit and not final:
                    break
                expired.append(key)
            for key in expired:
                del conn.inflight[key]
            self.counts.timeouts += len(expired)

    def _timers(self, now: float) -> None:
        for conn in self.conns:
            if not conn.up:
                continue
            due = conn.client.get_timer()
            if due is not None and now >= due:
                conn.client.handle_timer(now)
            out = conn.client.data_to_send()
            if out and not self._send(conn, out):
                continue
            if conn.client.closed and self.sending:
                self._lost(conn, conn.client.failure or "closed by the protocol")

    def _goodbye(self) -> None:
        now = time.perf_counter()
        for conn in self.conns:
            if conn.up and not conn.client.closed:
                conn.client.close(now)
                self._send(conn, conn.client.data_to_send())
        deadline = now + GOODBYE_S
        while any(c.up and not _done(c.client) for c in self.conns):
            if time.perf_counter() > deadline:
                break
            self.sending = False
            self._poll(0.02)
            self._timers(time.perf_counter())
        for conn in self.conns:
            if conn.up:
                conn.up = False
                self.sel.unregister(conn.link.sock)
                conn.link.close()

    def _tick(self, second: int, final: bool = False) -> None:
        counts = self.counts
        for outcome, n in self.outcomes.items():
            counts.answered += n
            if outcome is not None:
                counts.results[outcome.result] += n
                if outcome.status is not None:
                    counts.statuses[outcome.status] += n
        self.outcomes.clear()
        counts.latency.add_samples(self.latencies)
        if self.answer_time:
            self.last_answer = self.answer_time - self.t0
        self.latencies = []
        cpu = _cpu()
        in_flight = sum(len(c.inflight) for c in self.conns)
        self.emit(
            Tick(
                self.job.flow,
                second,
                counts,
                cpu - self._cpu,
                in_flight,
                self.last_answer,
                self.sent_until,
            )
        )
        self._cpu = cpu
        self.counts = Counts()
        for conn in self.conns:  # the answer callbacks hold the old counts
            conn.answer = None


def _done(client: Client) -> bool:
    done = getattr(client, "done", None)
    return client.closed if done is None else bool(done)


def _cpu() -> float:
    times = os.times()
    return times.user + times.system
