"""Helpers for the simulator's tests: its client roles against the daemon's own cores, in
memory (no sockets, no clocks)."""

from __future__ import annotations

from eir.config import PolicyConfig
from eir.diameter.peer import PeerConnection, Role
from eir.policy import decide
from eir.sigtran.checkimei import CheckImei
from eir.sigtran.m3ua_asp import AspConnection, DataReceived, M3uaSettings, Side
from eir.sigtran.sccp_routing import SccpRouter
from eir.sigtran.tcap import TcapServer
from sim import mme_role as s13_role
from sim import msc_role as map_role
from sim.engine import Client
from sim.probes import Outcome, Probe
from sim.workload import Lists, draws
from tests.support.diameter import DEMO, application, demo_store, settings

MIX = {
    "black": 0.2,
    "grey": 0.1,
    "white": 0.1,
    "pair": 0.1,
    "anomaly": 0.2,
    "malformed": 0.2,
    "unknown": 0.1,
}


def demo_lists() -> Lists:
    return Lists.load([str(DEMO)])


def s13_probes(count: int = 300, seed: int = 3) -> tuple[list[Probe], list[bytes]]:
    lists = demo_lists()
    made = [
        s13_role.probe(d, PolicyConfig(), lists.lookup)
        for d in draws(MIX, count, lists, seed, tuple(s13_role.MALFORMED))
    ]
    return [p for p, _ in made], [b for _, b in made]


def map_probes(
    options: map_role.MapOptions, count: int = 300, seed: int = 3
) -> tuple[list[Probe], list[bytes]]:
    lists = demo_lists()
    made = [
        map_role.probe(d, options, PolicyConfig(), lists.lookup)
        for d in draws(MIX, count, lists, seed, tuple(map_role.MALFORMED))
    ]
    return [p for p, _ in made], [b for _, b in made]


class _Pair:
    """A client role and a server core moving bytes in memory until both are quiet."""

    client: Client
    answers: list[tuple[int, Outcome | None]]

    def serve(self, data: bytes) -> bytes:
        raise NotImplementedError

    def pump(self, extra: bytes = b"") -> None:
        data = self.client.data_to_send() + extra
        for _ in range(20):
            back = self.serve(data)
            if back:
                self.client.receive(back, 0.0, lambda k, o: self.answers.append((k, o)))
            data = self.client.data_to_send()
            if not data and not back:
                return


class S13Pair(_Pair):
    """An `S13Client` and the daemon's responder `PeerConnection` with the demo lists."""

    def __init__(self, bodies: list[bytes], policy: PolicyConfig | None = None) -> None:
        ident = s13_role.identity(0, 0, "sim.example", "test.example")
        self.client: s13_role.S13Client = s13_role.S13Client(ident, bodies, 0.0)
        self.server = PeerConnection(
            settings(), Role.RESPONDER, 0.0, "192.0.2.9", application(policy, store=demo_store())
        )
        self.answers = []
        self.pump()

    def serve(self, data: bytes) -> bytes:
        if data:
            self.server.receive_data(data, 0.0)
        self.server.process(1 << 30)
        return self.server.data_to_send()


class MapPair(_Pair):
    """A `MapClient` and the daemon's SGP-side `AspConnection` with a `SccpRouter`."""

    def __init__(self, options: map_role.MapOptions, messages: list[bytes]) -> None:
        self.client: map_role.MapClient = map_role.MapClient(options, messages, 0.0)
        self.server = AspConnection(M3uaSettings(), Side.SGP, 0.0)
        store = demo_store()
        self.node = SccpRouter(
            TcapServer(CheckImei(lambda r: decide(r, store.lookup, PolicyConfig())))
        )
        self.answers = []
        self.pump()

    def serve(self, data: bytes) -> bytes:
        if data:
            self.server.receive_data(data, 0.0)
        while (event := self.server.next_event()) is not None:
            if isinstance(event, DataReceived):
                answer = self.node.on_data(event)
                if answer is not None:
                    self.server.send_raw(answer)
        return self.server.data_to_send()
