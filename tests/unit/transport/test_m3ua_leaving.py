"""Leaving a signalling gateway (RFC 4666 4.3.4.2) through the real adapter over loopback TCP:
the answers already queued, then ASPDN; the wait for ASPDN-ACK, bounded when the gateway never
sends it; then our side shut gracefully (FIN, never a reset).

Until issue 19 `M3uaEndpoint.close_all` sent ASPDN, yielded once and closed: the ACK arrived
on a closed socket (over SCTP the kernel answered ABORT) and DATA in flight was lost.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from eir.sigtran import m3ua
from eir.sigtran.m3ua import Message
from eir.sigtran.m3ua_asp import (
    ASPDN_ACK_WAIT_S,
    DataReceived,
    M3uaSettings,
    Side,
)
from eir.sigtran.sccp_routing import SccpRouter
from eir.transport.m3ua_adapter import M3uaEndpoint, M3uaProtocol
from tests.support.sigtran import Gateway, check_imei, over_sccp, server


async def _leave(ack: bool) -> tuple[list[str], float, bytes | None]:
    """eir as the ASP: active, a Begin answered but left unread, then `close_all`. Returns
    what the gateway read after ASPDN's wait, how long `close_all` took, and what ended the
    stream."""
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    endpoint = M3uaEndpoint(M3uaSettings(), SccpRouter(server()))
    connect = loop.create_connection(
        lambda: M3uaProtocol(endpoint, Side.ASP), "127.0.0.1", listener.getsockname()[1]
    )
    _transport, _proto = await connect
    sock, _addr = await loop.run_in_executor(None, listener.accept)
    gateway = Gateway(sock)
    await loop.run_in_executor(None, gateway.handshake)
    sock.sendall(m3ua.encode_data(over_sccp(check_imei(2))))
    # the answer is written (the gateway peeks at it without reading it)
    while not await loop.run_in_executor(None, sock.recv, 1, socket.MSG_PEEK):
        pass

    def gateway_side() -> bytes | None:
        answer = gateway.read_message()
        assert answer is not None
        gateway.sgp.receive_data(answer, time.monotonic())
        assert isinstance(gateway.sgp.next_event(), DataReceived)
        aspdn = gateway.read_message()
        assert aspdn is not None and m3ua.decode(aspdn).kind == m3ua.ASPDN
        if ack:
            gateway.sock.sendall(m3ua.encode(Message(m3ua.ASPDN_ACK)))
        end = gateway.read_message()  # the end of the stream: FIN gives None, a reset raises
        gateway.sock.close()  # as a gateway does when the ASP shuts its side
        return end

    started = time.monotonic()
    end, _ = await asyncio.gather(loop.run_in_executor(None, gateway_side), endpoint.close_all())
    took = time.monotonic() - started
    listener.close()
    assert not endpoint.connections
    return [m3ua.describe(kind) for kind in gateway.kinds], took, end


@pytest.mark.parametrize("ack", [True, False], ids=["acks", "never-acks"])
def test_close_all_answers_then_aspdn_then_waits_for_the_ack(ack: bool) -> None:
    kinds, took, end = asyncio.run(_leave(ack))
    assert kinds[-2:] == [m3ua.describe(m3ua.DATA), m3ua.describe(m3ua.ASPDN)]
    assert end is None  # FIN: the stream ended, it was not reset
    if ack:
        assert took < ASPDN_ACK_WAIT_S
    else:
        assert ASPDN_ACK_WAIT_S <= took < ASPDN_ACK_WAIT_S + 2.0
