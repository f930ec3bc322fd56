"""The MAP vectors on disk: read by both TCAP readers, and answered through every layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from eir.sigtran import m3ua, sccp
from eir.sigtran.m3ua_asp import AspConnection, AspState, DataReceived, M3uaSettings, Side
from eir.sigtran.sccp_routing import SccpRouter
from eir.sigtran.tcap import TcapServer
from eir.sigtran.tcap_scan import scan_begin
from tests.support.sigtran import MSG, decoded, server

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "map"


def vector(name: str) -> bytes:
    text = (VECTORS / f"{name}.hex").read_text()
    return bytes.fromhex("".join(line.split("#", 1)[0] for line in text.splitlines()))


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("tcap_begin_v1", "blackListed"),
        ("tcap_begin_v2", "blackListed"),
        ("tcap_begin_v3", "whiteListed"),
    ],
)
def test_tcap_vectors(name: str, status: str) -> None:
    data = vector(name)
    assert scan_begin(data) is not None
    MSG.from_ber(data, single=True)
    assert MSG.get_val()[0] == "begin"
    kind, body = decoded(server().answer(data))
    result = body["components"][0][1][1]["result"]["result"][1]
    assert kind == "end" and result in (status, {"equipmentStatus": status})


def test_whole_stack_vector() -> None:
    sgp = AspConnection(M3uaSettings(), Side.SGP, 0.0)
    sgp.receive_data(vector("m3ua_aspup") + vector("m3ua_aspac_loadshare"), 0.0)
    assert sgp.state is AspState.ACTIVE
    sgp.data_to_send()
    sgp.receive_data(vector("m3ua_data_udt_v3"), 0.0)
    events = []
    while (event := sgp.next_event()) is not None:
        events.append(event)
    (data,) = [e for e in events if isinstance(e, DataReceived)]
    assert data.routing_context == 1
    answer = SccpRouter(TcapServer(server().user)).on_data(data)
    assert answer is not None
    reply = m3ua.scan_data(answer)
    assert reply is not None and reply[1] == 1
    kind, body = decoded(sccp.decode(reply[0].data).data)
    assert kind == "end" and body["components"][0][1][1]["result"]["result"][1] == {
        "equipmentStatus": "blackListed"
    }
