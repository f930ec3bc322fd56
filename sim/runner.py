"""A run: the requests of each flow built once, one `Worker` per process (forked, so they share
the built requests), one tick a second from each, and the live line.

Workers connect and finish their handshakes first; then the parent gives all of them one start
time, so that open-loop schedules of several processes interleave.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TextIO

from eir.framing import DIAMETER, M3UA
from sim import mme_role as s13_role
from sim import msc_role as map_role
from sim.engine import Client, HandshakeError, Job, Schedule, Worker
from sim.link import Link, Target, connect
from sim.probes import Probe
from sim.settings import Flow, RunSettings, default_mix
from sim.stats import Aggregate, Tick
from sim.versions import scrape
from sim.workload import Lists, draws


class RunError(Exception):
    """The run could not take place (a target refused us, say): exit 1 with the reason."""


@dataclass
class Built:
    """One flow's requests: the probes and, per protocol, what the clients send."""

    flow: Flow
    probes: list[Probe]
    payloads: list[bytes]
    mix: dict[str, float]


@dataclass
class RunOutcome:
    aggregate: Aggregate
    started: float  # time.time() at the start
    elapsed_s: float  # from the start to the last answer (or the end of sending)
    built: list[Built] = field(default_factory=list)
    processes: int = 1
    #: per flow, what its target said of its software in the handshake (`sim.versions`)
    target_says: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the target's build labels from ``--target-metrics`` (`sim.versions.scrape`)
    target_metrics: dict[str, Any] | None = None


def build_flow(flow: Flow, settings: RunSettings, lists: Lists, index: int) -> Built:
    available = {k: lists.available(k) for k in ("black", "grey", "white", "pair")}
    mix = dict(flow.mix) if flow.mix is not None else default_mix(available)
    count = settings.pool if settings.requests is None else min(settings.pool, settings.requests)
    malformed = tuple(s13_role.MALFORMED if flow.protocol == "s13" else map_role.MALFORMED)
    drawn = draws(mix, max(count, 1), lists, settings.seed + 1000 * index, malformed)
    devices = None if lists.devices is None else lists.devices.index
    seen = lists.first_seen.get if lists.first_seen else None
    probes = []
    payloads = []
    for draw in drawn:
        if flow.protocol == "s13":
            probe, payload = s13_role.probe(draw, settings.policy, lists.lookup, devices, seen)
        else:
            probe, payload = map_role.probe(
                draw, flow.map, settings.policy, lists.lookup, devices, seen
            )
        probes.append(probe)
        payloads.append(payload)
    return Built(flow, probes, payloads, mix)


def _client_factory(built: Built, process: int) -> Callable[[int, float], Client]:
    flow = built.flow
    if flow.protocol == "s13":

        def make_s13(connection: int, now: float) -> Client:
            ident = s13_role.identity(process, connection, flow.realm, flow.destination_realm)
            return s13_role.S13Client(ident, built.payloads, now)

        return make_s13

    parts = map_role.Parts(built.payloads)

    def make_map(connection: int, now: float) -> Client:
        return map_role.MapClient(flow.map, parts, now)

    return make_map


def _connector(protocol: str, local: tuple[str, ...] = ()) -> Callable[[Target], Link]:
    return partial(connect, framing=DIAMETER if protocol == "s13" else M3UA, local=local)


def jobs(settings: RunSettings, built: list[Built]) -> list[Job]:
    """Each flow's processes; the processes are numbered across the flows, so that no two
    flows' S13 connections share an Origin-Host (an EIR keeps one connection per peer)."""
    out = []
    numbered = 0
    for b in built:
        flow = b.flow
        first, numbered = numbered, numbered + flow.processes
        assert flow.target is not None
        processes = flow.processes
        conns, extra_conns = divmod(flow.connections, processes)
        for p in range(processes):
            requests = None
            if settings.requests is not None:
                share, extra = divmod(settings.requests, processes * len(built))
                requests = share + (1 if p < extra else 0)
                if requests == 0:
                    continue
            schedule = None
            concurrency = 0
            if flow.rate is not None:
                rate = flow.rate / processes
                schedule = Schedule(
                    rate, flow.ramp_s, flow.ramp_from / processes, phase=p / flow.rate
                )
            else:
                total = flow.concurrency or 1
                share, extra = divmod(total, processes)
                concurrency = max(1, share + (1 if p < extra else 0))
            out.append(
                Job(
                    flow=flow.name,
                    target=flow.target,
                    connections=conns + (1 if p < extra_conns else 0),
                    make_client=_client_factory(b, first + p),
                    connect=_connector(flow.protocol, flow.local),
                    probes=b.probes,
                    first_probe=(p * len(b.probes)) // processes,
                    schedule=schedule,
                    concurrency=concurrency,
                    requests=requests,
                    duration_s=settings.duration_s,
                    timeout_s=settings.timeout_s,
                    max_in_flight=max(1, settings.max_in_flight // processes),
                )
            )
    return out


class Live:
    """The line printed every second on a terminal: rate, p99, errors."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.shown = -1

    def update(self, aggregate: Aggregate) -> None:
        if not self.enabled or not aggregate.timeline:
            return
        second = max(aggregate.timeline)
        if second <= self.shown:
            return
        self.shown = second
        last = aggregate.timeline.get(second - 1) or aggregate.timeline[second]
        total = aggregate.total
        self.stream.write(
            f"\r{second:5d} s  sent {total.sent:>10,}  rate {last.answered:>8,}/s  "
            f"p99 {last.latency.quantile_ms(0.99):8.2f} ms  timeouts {total.timeouts:,}  "
            f"errors {total.errors:,}  mismatches {total.mismatches:,}  "
        )
        self.stream.flush()

    def done(self) -> None:
        if self.enabled and self.shown >= 0:
            self.stream.write("\n")
            self.stream.flush()


def expected_store(settings: RunSettings) -> Lists:
    """What the EIR under test holds, in memory: the list files, the identities' pairs by
    group, the ``duplicate`` class eir's rules find in the observations and when each IMEI
    was first seen in them (a device rule's exemption), and the device
    database with its approved-models list (ValueError on bad input)."""
    from sim.classes import DUPLICATE, clock, finding_rows, findings
    from sim.expect import first_seen_in
    from sim.identity_files import read_members, read_observations

    lists = Lists.load(list(settings.lists)) if settings.lists else Lists.empty()
    if settings.identities:
        lists.members = read_members(settings.identities)
    if settings.observations:
        records = read_observations(settings.observations)
        found = findings(records, settings.rules)
        lists.classify(DUPLICATE, finding_rows(found), clock(records))
        lists.first_seen = first_seen_in(records)
    if settings.devices or settings.approved:
        from sim.device_db import device_kinds

        lists.devices = device_kinds(settings.devices, settings.approved, settings.policy)
    return lists


def run(settings: RunSettings, *, stderr: TextIO = sys.stderr) -> RunOutcome:
    try:
        lists = expected_store(settings)
    except ValueError as exc:
        raise RunError(str(exc)) from None
    try:
        built = [build_flow(f, settings, lists, i) for i, f in enumerate(settings.flows)]
    except ValueError as exc:
        raise RunError(str(exc)) from None
    work = jobs(settings, built)
    live_on = settings.live == "always" or (settings.live == "auto" and stderr.isatty())
    live = Live(stderr, live_on)
    aggregate = Aggregate()
    started = time.time()
    said = [_inline(work[0], aggregate, live)] if len(work) == 1 else _forked(work, aggregate, live)
    live.done()
    elapsed = aggregate.last_answer or (settings.duration_s or 0.0)
    outcome = RunOutcome(aggregate, started, elapsed, built, len(work))
    for job, says in zip(work, said, strict=True):
        if says and job.flow not in outcome.target_says:
            outcome.target_says[job.flow] = says
    if settings.target_metrics:
        outcome.target_metrics = scrape(settings.target_metrics)
    return outcome


def _inline(job: Job, aggregate: Aggregate, live: Live) -> dict[str, Any]:
    def emit(tick: Tick) -> None:
        aggregate.add(tick)
        live.update(aggregate)

    worker = Worker(job, emit)
    try:
        worker.connect()
    except HandshakeError as exc:
        raise RunError(str(exc)) from None
    worker.run(time.perf_counter())
    return worker.peer_says


def _child(job: Job, pipe: multiprocessing.connection.Connection) -> None:
    try:
        worker = Worker(job, lambda tick: pipe.send(("tick", tick)))
        try:
            worker.connect()
        except HandshakeError as exc:
            pipe.send(("failed", str(exc)))
            return
        pipe.send(("ready", worker.peer_says))
        kind, t0 = pipe.recv()
        if kind != "start":
            return
        worker.run(t0)
        pipe.send(("done", None))
    except Exception:  # noqa: BLE001  # any bug in a worker is reported, never a silent hang
        pipe.send(("failed", traceback.format_exc()))


def _forked(work: list[Job], aggregate: Aggregate, live: Live) -> list[dict[str, Any]]:
    """The jobs in processes of their own; what each target said in its handshake."""
    ctx = multiprocessing.get_context("fork")
    pipes = []
    procs = []
    for job in work:
        parent, child = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=_child, args=(job, child), daemon=True)
        proc.start()
        child.close()
        pipes.append(parent)
        procs.append(proc)
    try:
        said = _await_ready(pipes)
        t0 = time.perf_counter() + 0.02
        for pipe in pipes:
            pipe.send(("start", t0))
        _collect(pipes, aggregate, live)
        return said
    finally:
        _stop(pipes, procs)


def _await_ready(pipes: list[multiprocessing.connection.Connection]) -> list[dict[str, Any]]:
    """Every worker connected (its handshakes done), and what its target said; else the first
    failure, raised."""
    failure = None
    said = []
    for pipe in pipes:
        kind, value = _receive(pipe)
        if kind == "failed":
            failure = failure or value
        said.append(value if kind == "ready" and isinstance(value, dict) else {})
    if failure is not None:
        raise RunError(str(failure))
    return said


def _collect(
    pipes: list[multiprocessing.connection.Connection], aggregate: Aggregate, live: Live
) -> None:
    """The workers' ticks into `aggregate` until each is done; a failure is raised."""
    index = {id(p): i for i, p in enumerate(pipes)}
    waiting = set(pipes)
    while waiting:
        for ready in multiprocessing.connection.wait(list(waiting), timeout=0.5):
            assert isinstance(ready, multiprocessing.connection.Connection)
            kind, value = _receive(ready)
            if kind == "tick":
                aggregate.add(value, index[id(ready)])
                live.update(aggregate)
            elif kind == "failed":
                raise RunError(str(value))
            else:
                waiting.discard(ready)


def _stop(
    pipes: list[multiprocessing.connection.Connection],
    procs: Sequence[multiprocessing.process.BaseProcess],
) -> None:
    for pipe in pipes:
        with contextlib.suppress(OSError):
            pipe.send(("stop", None))
    for proc in procs:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()


def _receive(pipe: multiprocessing.connection.Connection) -> tuple[str, Any]:
    try:
        message: tuple[str, Any] = pipe.recv()
    except EOFError:
        return ("failed", "a simulator process died")
    return message


__all__ = ["RunError", "RunOutcome", "Tick", "build_flow", "expected_store", "jobs", "run"]
