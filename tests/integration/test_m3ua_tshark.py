"""Every M3UA message we send, in SCTP DATA chunks (PPID 3), dissected by tshark cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from eir.framing import PPID_M3UA
from eir.sigtran import m3ua
from eir.sigtran.m3ua import ErrorCode, Message, ProtocolData, Tag, u32
from eir.sigtran.m3ua_asp import AspConnection, M3uaSettings, Side
from tests.support.pcap import tshark, tshark_problems, write_pcap

pytestmark = pytest.mark.skipif(
    tshark() is None, reason="tshark is not installed (make test installs it)"
)


def _conversation() -> list[bytes]:
    """Both sides of an ASP exchange, cut into messages."""
    asp = AspConnection(M3uaSettings(asp_identifier=3, routing_contexts=(1,)), Side.ASP, 0.0)
    sgp = AspConnection(M3uaSettings(routing_contexts=(1,)), Side.SGP, 0.0)
    sent: list[bytes] = []
    for _ in range(10):
        for src, dst in ((asp, sgp), (sgp, asp)):
            data = src.data_to_send()
            sent.append(data)
            if data:
                dst.receive_data(data, 0.0)
    sgp.receive_data(m3ua.encode(Message(m3ua.BEAT, ((Tag.HEARTBEAT_DATA, b"hb"),))), 0.0)
    sgp.receive_data(m3ua.encode(Message(m3ua.ASPIA)), 0.0)
    sgp.receive_data(m3ua.encode_data(ProtocolData(1, 2, 10, 2, 0, 0, b"\x09")), 0.0)
    sgp.receive_data(m3ua.encode(Message(m3ua.ASPDN)), 0.0)
    sent.append(sgp.data_to_send())
    asp.shutdown()
    sent.append(asp.data_to_send())
    out = []
    for chunk in sent:
        rest = chunk
        while rest:
            length = int.from_bytes(rest[4:8], "big")
            out.append(rest[:length])
            rest = rest[length:]
    return out


def test_tshark_dissects_m3ua_cleanly(tmp_path: Path) -> None:
    payloads = [
        *_conversation(),
        m3ua.encode_data(ProtocolData(1, 2, 10, 2, 0, 5, b"\x09\x81\x03"), 1, 7),
        m3ua.encode(m3ua.err(ErrorCode.INVALID_ROUTING_CONTEXT, u32(9), rc=(9, 10))),
        m3ua.encode(m3ua.err(ErrorCode.INVALID_NETWORK_APPEARANCE, b"\1\0\1\1", na=0xDEADBEEF)),
        m3ua.encode(m3ua.ntfy(m3ua.STATUS_ALTERNATE_ASP_ACTIVE, (1,))),
    ]
    path = tmp_path / "m3ua.pcap"
    write_pcap(path, payloads, port=2905, sctp_ppid=PPID_M3UA)
    text, problems = tshark_problems(path, protocol="mtp 3 user adaptation layer")
    # (the DATA payloads use a spare SI, 10: their bytes are shown as data, not dissected)
    assert not problems, "\n".join(problems)
    # RFC 4666 3.8.1: the invalid contexts and Network Appearance in their own parameters
    assert "Routing context: 10" in text and "Network appearance: 3735928559" in text
    for name in ("ASPUP", "ASPAC", "ASPUP_ACK", "NTFY", "ERR", "BEAT"):
        assert name.replace("_", " ").lower()[:4] in text.lower()
